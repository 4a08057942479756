"""The forward process and the three parameterisations of the network's output.

x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps                (Ho et al. 2020, eq. 4)
v   = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0                (Salimans & Ho 2022, sec. 4)
Writing a = sqrt(alpha_bar_t), s = sqrt(1 - alpha_bar_t) (so a^2 + s^2 = 1), the pair (x_t, v) is a
rotation of (x0, eps), which gives the conversions below without division:
x0 = a x_t - s v,   eps = s x_t + a v.
"""
from __future__ import annotations

import torch

from diffusion.schedules import Schedule

PREDICTION_TYPES = ("eps", "x0", "v")


def signal_noise(schedule: Schedule, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)), each (B, 1, 1, 1), computed in float64 then cast."""
    alpha_bar = schedule.alpha_bar.to(t.device)[t]
    shape = (-1, *([1] * (like.ndim - 1)))
    return alpha_bar.sqrt().to(like.dtype).view(shape), (1 - alpha_bar).sqrt().to(like.dtype).view(shape)


def q_sample(schedule: Schedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x0) with the given noise. x0, eps: (B, C, H, W); t: (B,) long."""
    a, s = signal_noise(schedule, t, x0)
    return a * x0 + s * eps


def target(schedule: Schedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """What the network is trained to output for this prediction type."""
    check_prediction_type(prediction_type)
    if prediction_type == "eps":
        return eps
    if prediction_type == "x0":
        return x0
    a, s = signal_noise(schedule, t, x0)
    return a * eps - s * x0


def to_x0_eps(
    schedule: Schedule, output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, prediction_type: str, clip_x0: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert a network output to the implied (x0, eps), both (B, C, H, W).

    With clip_x0, x0 is clamped to [-1, 1] and eps is recomputed from the clamped x0, so the pair
    stays consistent with x_t (DDIM and DDPM steps then agree, see tests/diffusion/test_samplers.py).
    """
    check_prediction_type(prediction_type)
    a, s = signal_noise(schedule, t, xt)
    if prediction_type == "v":
        x0, eps = a * xt - s * output, s * xt + a * output
    elif prediction_type == "x0":
        x0, eps = output, (xt - a * output) / s
    else:
        x0, eps = (xt - s * output) / a, output
    if clip_x0:
        x0 = x0.clamp(-1, 1)
        eps = (xt - a * x0) / s
    return x0, eps


def check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; valid choices: {', '.join(PREDICTION_TYPES)}")
