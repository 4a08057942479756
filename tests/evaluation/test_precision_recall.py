"""Precision and recall (Kynkäänniemi et al. 2019) on point sets whose answer is known."""
import numpy as np
import pytest
import torch

from evaluation.precision_recall import knn_radii, precision_recall


def test_a_hand_computed_one_dimensional_case():
    """k = 1. Real radii: 0,1,2 -> 1 and 10 -> 8; fake radii: 0.5, 5 -> 4.5 and 20 -> 15.
    Fake 0.5 (ball of 0) and 5 (ball of 10) are inside the real manifold, 20 is not: precision 2/3.
    Real 0, 1, 2 lie in the ball of 0.5, and 10 in the ball of 20: recall 1."""
    real, fake = np.array([[0.0], [1.0], [2.0], [10.0]]), np.array([[0.5], [5.0], [20.0]])
    assert torch.equal(knn_radii(torch.tensor(real), k=1), torch.tensor([1.0, 1.0, 1.0, 8.0], dtype=torch.float64))
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(2 / 3) and recall == 1.0


def test_identical_sets_have_precision_and_recall_one():
    feats = np.random.default_rng(0).normal(size=(600, 16))
    assert precision_recall(feats, feats) == (1.0, 1.0)


def test_a_collapsed_generator_is_precise_but_recalls_little():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1000, 8))
    fake = real[0] + 0.01 * rng.normal(size=(1000, 8))  # every sample a slight variant of one real point
    precision, recall = precision_recall(real, fake)
    assert precision > 0.95 and recall < 0.01


def test_disjoint_sets_score_zero_and_independent_draws_score_high():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(500, 4))
    assert precision_recall(real, rng.normal(size=(500, 4)) + 50.0) == (0.0, 0.0)
    precision, recall = precision_recall(real, rng.normal(size=(500, 4)))
    assert precision > 0.8 and recall > 0.8


def test_k_and_shapes_are_checked():
    with pytest.raises(ValueError, match="k must be in 1..2 for 3 points"):
        precision_recall(np.zeros((3, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))
