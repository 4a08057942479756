"""Fréchet distance between two feature sets (the "F" of FID, Heusel et al. 2017, arXiv:1706.08500).

Fit a Gaussian to each (N, D) set of features (mean mu, covariance Sigma) and compute

    d^2 = ||mu_a - mu_b||^2 + Tr(Sigma_a + Sigma_b - 2 (Sigma_a Sigma_b)^(1/2))

The features are the caller's choice: Inception pool3 for the standard FID on natural images, the
penultimate layer of `evaluation/classifier.py` for digits and Fashion-MNIST (FID numbers are only
comparable under the same feature extractor, the same sample count and the same reference set).
"""
from __future__ import annotations

import numpy as np
import torch


def frechet_distance(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feats_a (N_a, D) and feats_b (N_b, D).

    Computed in float64. The matrix square root term uses
    Tr((Sigma_a Sigma_b)^(1/2)) = Tr((S Sigma_b S)^(1/2)) with S = Sigma_a^(1/2):
    S Sigma_b S is symmetric positive semi-definite, so its square root's trace is the sum of the
    square roots of its eigenvalues from `eigh`. Unlike `scipy.linalg.sqrtm` of the non-symmetric
    product, this never produces complex parts, and it stays stable when N < D makes the
    covariances singular. Eigenvalues that rounding pushes slightly below zero are clipped to zero.
    """
    mu_a, sigma_a = _gaussian(feats_a, "feats_a")
    mu_b, sigma_b = _gaussian(feats_b, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    sqrt_a = _psd_sqrt(sigma_a)
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(sqrt_a @ sigma_b @ sqrt_a), 0, None)).sum()
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt
    # The exact value is >= 0; rounding can leave a tiny negative one for identical sets.
    return float(max(distance, 0.0))


def _gaussian(feats: np.ndarray | torch.Tensor, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64."""
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().numpy()
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"{name} must be (N, D) with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix via eigendecomposition."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
