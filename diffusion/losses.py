"""The denoising training loss, per sample, with optional min-SNR-gamma weighting.

L(theta) = E_{x0, eps, t} w(t) || f_theta(x_t, t, c) - target_t ||^2    (Ho et al. 2020, eq. 14)
where the target is eps, x0 or v (diffusion/forward.py). Min-SNR-gamma (Hang et al. 2023) weights every
timestep as if the loss were on x0 and caps that weight at gamma:
    eps: w = min(SNR, gamma) / SNR,   x0: w = min(SNR, gamma),   v: w = min(SNR, gamma) / (SNR + 1).
"""
from __future__ import annotations

from typing import Callable

import torch

from diffusion.forward import check_prediction_type, q_sample, target
from diffusion.schedules import Schedule


def min_snr_weight(schedule: Schedule, t: torch.Tensor, prediction_type: str, gamma: float) -> torch.Tensor:
    """(B,) float32 weights. At zero terminal SNR the eps weight min(SNR, gamma) / SNR is taken as its limit, 1."""
    snr = schedule.snr.to(t.device)[t]
    if prediction_type == "eps":
        weight = (gamma / snr).clamp(max=1.0)
    elif prediction_type == "x0":
        weight = snr.clamp(max=gamma)
    else:
        weight = snr.clamp(max=gamma) / (snr + 1)
    return weight.float()


def training_losses(
    model: Callable[..., torch.Tensor],
    schedule: Schedule,
    x0: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    prediction_type: str = "eps",
    min_snr_gamma: float | None = None,
    **model_kwargs,
) -> torch.Tensor:
    """Per-sample losses, shape (B,), float32.

    model: called as model(x_t, t, **model_kwargs) -> (B, C, H, W). x0, eps: (B, C, H, W); t: (B,) long.
    Per-sample values are returned (not their mean) so the caller can log them by timestep bucket.
    """
    check_prediction_type(prediction_type)
    xt = q_sample(schedule, x0, t, eps)
    output = model(xt, t, **model_kwargs)
    goal = target(schedule, x0, t, eps, prediction_type)
    loss = (output.float() - goal.float()).pow(2).mean(dim=tuple(range(1, x0.ndim)))
    if min_snr_gamma is not None:
        loss = loss * min_snr_weight(schedule, t, prediction_type, min_snr_gamma)
    return loss
