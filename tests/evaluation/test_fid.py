"""Fréchet distance against closed forms on feature sets whose sample statistics are known exactly."""
import numpy as np
import pytest
import scipy.linalg
import torch

from evaluation.fid import frechet_distance


def _whitened(n: int, d: int, seed: int) -> np.ndarray:
    """(n, d) samples with sample mean exactly 0 and unbiased sample covariance exactly the identity."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    x -= x.mean(axis=0)
    chol = np.linalg.cholesky(np.cov(x, rowvar=False))
    return x @ np.linalg.inv(chol).T


def test_identical_sets_are_at_distance_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16)) * 3 + 1
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_a_shift_costs_its_squared_length():
    feats = np.random.default_rng(1).normal(size=(300, 8))
    shift = np.arange(8.0)
    assert frechet_distance(feats, feats + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-9)


def test_diagonal_gaussians_match_the_closed_form():
    """mu and Sigma = diag(a), diag(b): d^2 = ||mu_a - mu_b||^2 + sum(a + b - 2 sqrt(a b))."""
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 0.25, 16.0])
    mu_a, mu_b = np.array([0.0, 1.0, -2.0, 3.0]), np.array([1.0, 1.0, 0.0, 0.0])
    feats_a = _whitened(400, 4, seed=2) * np.sqrt(a) + mu_a
    feats_b = _whitened(700, 4, seed=3) * np.sqrt(b) + mu_b
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(feats_a, feats_b) == pytest.approx(expected, rel=1e-9)


def test_non_commuting_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(4)
    feats_a = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    feats_b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    sa, sb = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    mean_term = np.sum((feats_a.mean(0) - feats_b.mean(0)) ** 2)
    expected = mean_term + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real)
    assert frechet_distance(feats_a, feats_b) == pytest.approx(expected, rel=1e-8)


def test_symmetric_and_accepts_float32_tensors():
    rng = np.random.default_rng(5)
    feats_a, feats_b = rng.normal(size=(100, 10)), rng.normal(size=(150, 10)) * 2
    forward = frechet_distance(torch.tensor(feats_a, dtype=torch.float32), torch.tensor(feats_b, dtype=torch.float32))
    assert forward == pytest.approx(frechet_distance(feats_b, feats_a), rel=1e-5)


def test_fewer_samples_than_dimensions_stays_real_and_non_negative():
    rng = np.random.default_rng(6)
    distance = frechet_distance(rng.normal(size=(20, 64)), rng.normal(size=(20, 64)))
    assert np.isfinite(distance) and distance > 0


def test_mismatched_or_degenerate_inputs_are_rejected():
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
