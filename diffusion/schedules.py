"""Noise schedules of the DDPM forward process q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

A schedule is the sequence beta_t (t = 0 .. T-1) and its running product alpha_bar_t = prod_{s<=t} (1 - beta_s).
Everything is computed in float64: at T = 1000 the cumulative product of values near 1 loses several
digits in float32, and the SNR near t = 0 (alpha_bar / (1 - alpha_bar) ~ 1e4) magnifies that error.
Callers gather per-timestep values and cast them to the dtype of the images (see diffusion/forward.py).

Schedules:
- linear        Ho et al. 2020: betas linspace(1e-4, 0.02) at T = 1000, both ends scaled by 1000 / T as
                in improved-diffusion, so a short chain still ends near pure noise (diffusers' `linear`
                is unscaled and ends at alpha_bar ~ 0.08 for T = 100).
- cosine        Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2),
                s = 0.008, betas clipped at 0.999.
- scaled_linear Rombach et al. 2022 (Stable Diffusion): betas linear in sqrt space from 0.00085 to 0.012,
                the ends scaled by 1000 / T like `linear`.
- sigmoid       Xu et al. 2022 (GeoDiff): betas = sigmoid(linspace(-6, 6)) stretched to [1e-4, 0.02],
                scaled by 1000 / T.
Any schedule can be rescaled to zero terminal SNR (Lin et al. 2023, Algorithm 1): sqrt(alpha_bar) is
shifted so its last value is 0 and scaled so its first is unchanged. The last step is then pure noise,
which eps-prediction cannot invert (x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) divides by
zero), so it needs prediction_type v or x0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SCHEDULES = ("linear", "cosine", "scaled_linear", "sigmoid")


@dataclass(frozen=True)
class Schedule:
    """betas and alpha_bar, float64 tensors of shape (T,)."""

    name: str
    betas: torch.Tensor
    alpha_bar: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar), shape (T,)."""
        return self.alpha_bar / (1.0 - self.alpha_bar)

    @property
    def zero_terminal_snr(self) -> bool:
        return bool(self.alpha_bar[-1] == 0)


def _linear_betas(num_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    scale = 1000.0 / num_timesteps
    return torch.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64)


def _scaled_linear_betas(num_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    scale = 1000.0 / num_timesteps
    sqrt_betas = torch.linspace(math.sqrt(scale * beta_start), math.sqrt(scale * beta_end), num_timesteps, dtype=torch.float64)
    return sqrt_betas**2


def _sigmoid_betas(num_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    scale = 1000.0 / num_timesteps
    ramp = torch.sigmoid(torch.linspace(-6.0, 6.0, num_timesteps, dtype=torch.float64))
    return scale * (beta_start + (beta_end - beta_start) * ramp)


def _cosine_betas(num_timesteps: int, s: float, max_beta: float) -> torch.Tensor:
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def rescale_zero_terminal_snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2023, Algorithm 1: make alpha_bar[-1] exactly 0, keep alpha_bar[0]. (T,) -> (T,)."""
    sqrt_ab = alpha_bar.sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    return sqrt_ab**2


def _alpha_bar_to_betas(alpha_bar: torch.Tensor) -> torch.Tensor:
    prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    return 1 - alpha_bar / prev


def get_schedule(
    name: str,
    num_timesteps: int = 1000,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_s: float = 0.008,
    max_beta: float = 0.999,
    zero_terminal_snr: bool = False,
) -> Schedule:
    """Build a schedule by name. beta_start / beta_end are the T = 1000 values of the linear family
    (scaled_linear uses 0.00085 / 0.012 when left at the DDPM defaults)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid choices: {', '.join(SCHEDULES)}")
    if not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an integer >= 2, got {num_timesteps!r}")
    if name == "linear":
        betas = _linear_betas(num_timesteps, beta_start, beta_end)
    elif name == "scaled_linear":
        if (beta_start, beta_end) == (1e-4, 0.02):
            beta_start, beta_end = 0.00085, 0.012
        betas = _scaled_linear_betas(num_timesteps, beta_start, beta_end)
    elif name == "sigmoid":
        betas = _sigmoid_betas(num_timesteps, beta_start, beta_end)
    else:
        betas = _cosine_betas(num_timesteps, cosine_s, max_beta)
    if not (0 < betas.min() and betas.max() < 1):
        raise ValueError(f"schedule {name!r} with T={num_timesteps} gives betas outside (0, 1); use a larger T")
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    if zero_terminal_snr:
        alpha_bar = rescale_zero_terminal_snr(alpha_bar)
        betas = _alpha_bar_to_betas(alpha_bar)
    return Schedule(name=name, betas=betas, alpha_bar=alpha_bar)
