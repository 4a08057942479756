"""Precision and recall of a generated distribution (Kynkäänniemi et al. 2019, arXiv:1904.06991).

Each feature set stands for its distribution's manifold: the union of balls around its points, each
ball reaching that point's k-th nearest neighbour within the same set (k = 3, as in the paper).

    precision = fraction of generated points inside the real manifold   (are samples realistic?)
    recall    = fraction of real points inside the generated manifold   (is all of the data covered?)

FID folds both into one number; these two tell them apart, so mode collapse (realistic samples of
too few kinds) shows as high precision with low recall. Like FID they depend on the feature space and
the counts: compare them at equal counts, beside the real-vs-real values at the same count.
"""
from __future__ import annotations

import numpy as np
import torch


def knn_radii(feats: torch.Tensor, k: int = 3, batch_size: int = 1024) -> torch.Tensor:
    """(N,) distance from each of the (N, D) points to its k-th nearest other point of the same set."""
    if not 1 <= k < len(feats):
        raise ValueError(f"k must be in 1..{len(feats) - 1} for {len(feats)} points, got {k}")
    # k + 1 smallest: each point's own zero distance comes first (or a tie with a duplicate, same value)
    return torch.cat([torch.cdist(chunk, feats).kthvalue(k + 1, dim=1).values for chunk in feats.split(batch_size)])


def coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of `points` (M, D) inside at least one ball (centres (N, D), radii (N,))."""
    inside = [(torch.cdist(chunk, centres) <= radii).any(dim=1) for chunk in points.split(batch_size)]
    return torch.cat(inside).float().mean().item()


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of `fake` (M, D) features against `real` (N, D) features, computed in float64."""
    real, fake = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (real, fake))
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}")
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall
