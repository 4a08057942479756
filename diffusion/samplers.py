"""Samplers: plain functions sharing one signature, as in k-diffusion.

    sampler(model_fn, x, schedule, *, prediction_type, num_steps, spacing, clip_x0, generator, callback, **options)

model_fn(x_t, t) -> network output (B, C, H, W) for a (B,) long t; wrap the network with its condition
or with classifier-free guidance (diffusion/guidance.py) before passing it. x is the starting noise
x_T ~ N(0, I), (B, C, H, W). The result is the final sample x_0. callback(step, t, x_t, x0_pred) is
called once per network evaluation, which powers trajectory views and "rewinding" a generation.
All steps visit `sampling_timesteps(T, num_steps, spacing)` (diffusion/timesteps.py) and treat the
timestep after the last as the clean image (alpha_bar = 1).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from diffusion.forward import to_x0_eps
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, int, torch.Tensor, torch.Tensor], None]


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _steps(schedule: Schedule, num_steps: int | None, spacing: str) -> list[tuple[int, float, float]]:
    """[(t, alpha_bar_t, alpha_bar_prev)] in sampling order, as Python floats (float64)."""
    timesteps = sampling_timesteps(schedule.num_timesteps, num_steps or schedule.num_timesteps, spacing).tolist()
    alpha_bar = schedule.alpha_bar.tolist()
    prevs = [alpha_bar[t] for t in timesteps[1:]] + [1.0]
    return [(t, alpha_bar[t], prev) for t, prev in zip(timesteps, prevs)]


def _denoise(model_fn, schedule, x, t, prediction_type, clip_x0):
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    output = model_fn(x, t_batch).to(x.dtype)
    return to_x0_eps(schedule, output, x, t_batch, prediction_type, clip_x0)


@torch.no_grad()
def ddim(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = 50,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, eta: float = 0.0,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12): x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z,
    sigma = eta * sqrt((1 - ab_prev) / (1 - ab)) * sqrt(1 - ab / ab_prev). eta = 0 is deterministic;
    eta = 1 is DDPM ancestral sampling with the fixed-small variance on the same timesteps."""
    for step, (t, ab, ab_prev) in enumerate(_steps(schedule, num_steps, spacing)):
        x0, eps = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0)
        if callback is not None:
            callback(step, t, x, x0)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * _randn_like(x, generator)
    return x


@torch.no_grad()
def ddpm(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = None,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, variance: str = "fixed_small",
) -> torch.Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) from the posterior q(x_prev | x_t, x0):
    mean = sqrt(ab_prev) beta_t / (1 - ab) x0 + sqrt(alpha_t) (1 - ab_prev) / (1 - ab) x_t, with
    variance beta~_t = beta_t (1 - ab_prev) / (1 - ab) ("fixed_small") or beta_t ("fixed_large").
    With num_steps < T the chain is respaced (Nichol & Dhariwal 2021, sec. 4): beta_t = 1 - ab / ab_prev."""
    if variance not in ("fixed_small", "fixed_large"):
        raise ValueError(f"unknown DDPM variance {variance!r}; valid choices: fixed_small, fixed_large")
    steps = _steps(schedule, num_steps, spacing)
    for step, (t, ab, ab_prev) in enumerate(steps):
        x0, _ = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0)
        if callback is not None:
            callback(step, t, x, x0)
        alpha, beta = ab / ab_prev, 1 - ab / ab_prev
        x = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + (math.sqrt(alpha) * (1 - ab_prev) / (1 - ab)) * x
        if step < len(steps) - 1:
            var = beta * (1 - ab_prev) / (1 - ab) if variance == "fixed_small" else beta
            x = x + math.sqrt(var) * _randn_like(x, generator)
    return x


@torch.no_grad()
def dpm_solver_pp_2m(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = 20,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), deterministic, for 15-25 step sampling.

    With alpha = sqrt(ab), sigma = sqrt(1 - ab), lambda = log(alpha / sigma) and h = lambda_next - lambda:
        x_next = (sigma_next / sigma) x + alpha_next (1 - e^{-h}) D,
        D = (1 + 1 / (2r)) x0_i - 1 / (2r) x0_{i-1},  r = h_{i-1} / h   (D = x0_i on the first step).
    The last step lands on sigma = 0 and is first order (x_next = x0), as in diffusers' final_sigmas_type
    "zero". e^{-h} is formed as alpha sigma_next / (sigma alpha_next), which stays finite at zero terminal SNR.
    """
    previous_x0, previous_h = None, None
    steps = _steps(schedule, num_steps, spacing)
    for step, (t, ab, ab_next) in enumerate(steps):
        x0, _ = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0)
        if callback is not None:
            callback(step, t, x, x0)
        if step == len(steps) - 1:
            return x0
        alpha, sigma = math.sqrt(ab), math.sqrt(1 - ab)
        alpha_next, sigma_next = math.sqrt(ab_next), math.sqrt(1 - ab_next)
        h = math.log(alpha_next / sigma_next) - math.log(alpha / sigma) if alpha > 0 else math.inf
        d = x0
        if previous_x0 is not None and math.isfinite(previous_h):
            r = previous_h / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous_x0
        exp_neg_h = alpha * sigma_next / (sigma * alpha_next)
        x = (sigma_next / sigma) * x + alpha_next * (1 - exp_neg_h) * d
        previous_x0, previous_h = x0, h
    return x


SAMPLERS = {"ddim": ddim, "ddpm": ddpm, "dpm_solver_pp_2m": dpm_solver_pp_2m}


def get_sampler(name: str):
    """The sampler function registered under name."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid choices: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
