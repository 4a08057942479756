"""Samplers: plain functions sharing one signature, as in k-diffusion.

    sampler(model_fn, x, schedule, *, prediction_type, num_steps, spacing, clip_x0, generator, callback,
            start, stop, state, step_hook, **options)

model_fn(x_t, t) -> network output (B, C, H, W) for a (B,) long t; wrap the network with its condition
or with classifier-free guidance (diffusion/guidance.py) before passing it. x is the starting noise
x_T ~ N(0, I), (B, C, H, W). The result is the final sample x_0. callback(step, t, x_t, x0_pred) is
called once per network evaluation, which powers trajectory views and "rewinding" a generation.
All steps visit `sampling_timesteps(T, num_steps, spacing)` (diffusion/timesteps.py) and treat the
timestep after the last as the clean image (alpha_bar = 1).

The editing features run a part of that same chain, so every sampler also takes
- start / stop: run steps start .. stop - 1 of the num_steps (x is then x_t at the start step's timestep;
  the result is x at the stop step's timestep, the clean image when stop is None). img2img starts late,
  RePaint runs one step at a time, a rewind continues from a saved step.
- state: a SamplerState that the sampler reads and updates in place: what it carries from one step to
  the next (the previous step's x0, which a self-conditioned network reads and DPM-Solver++ extrapolates
  with, and DPM-Solver++'s h). A caller that keeps it, and the generator's RNG state, can continue a
  chain exactly where it stopped.
- step_hook(step, alpha_bar_next, x_next) -> x_next: called after every step with the new x at the next
  noise level (alpha_bar 1 after the last step); inpainting uses it to paste the known pixels back in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from diffusion.forward import to_x0_eps
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, int, torch.Tensor, torch.Tensor], None]
StepHook = Callable[[int, float, torch.Tensor], torch.Tensor]


@dataclass
class SamplerState:
    """What a sampler carries between steps besides x (the generator carries the rest).

    previous_x0: (B, C, H, W) x0 predicted at the step before, or None before the first step (every sampler
                 records it; a model_fn marked `self_conditioned` receives it, diffusion/guidance.py)
    previous_h:  that step's lambda increment (DPM-Solver++ (2M)), or None
    """

    previous_x0: torch.Tensor | None = None
    previous_h: float | None = None


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _steps(schedule: Schedule, num_steps: int | None, spacing: str) -> list[tuple[int, float, float]]:
    """[(t, alpha_bar_t, alpha_bar_prev)] in sampling order, as Python floats (float64)."""
    timesteps = sampling_timesteps(schedule.num_timesteps, num_steps or schedule.num_timesteps, spacing).tolist()
    alpha_bar = schedule.alpha_bar.tolist()
    prevs = [alpha_bar[t] for t in timesteps[1:]] + [1.0]
    return [(t, alpha_bar[t], prev) for t, prev in zip(timesteps, prevs)]


def _run_steps(steps: list, start: int, stop: int | None) -> list[tuple[int, tuple[int, float, float]]]:
    """[(step, (t, alpha_bar_t, alpha_bar_prev))] for the steps start .. stop - 1 of the chain."""
    stop = len(steps) if stop is None else stop
    if not 0 <= start <= stop <= len(steps):
        raise ValueError(f"steps {start}..{stop} are not within the chain's {len(steps)} steps")
    return list(enumerate(steps))[start:stop]


def _hook(step_hook: StepHook | None, step: int, alpha_bar_next: float, x: torch.Tensor) -> torch.Tensor:
    return x if step_hook is None else step_hook(step, alpha_bar_next, x)


def model_output(model_fn: ModelFn, x: torch.Tensor, t: torch.Tensor, previous_x0: torch.Tensor | None) -> torch.Tensor:
    """model_fn(x_t, t), with the previous step's x0 estimate as well for a self-conditioned network."""
    if getattr(model_fn, "self_conditioned", False):
        return model_fn(x, t, previous_x0)
    return model_fn(x, t)


def _denoise(model_fn, schedule, x, t, prediction_type, clip_x0, state: SamplerState):
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    output = model_output(model_fn, x, t_batch, state.previous_x0).to(x.dtype)
    return to_x0_eps(schedule, output, x, t_batch, prediction_type, clip_x0)


@torch.no_grad()
def ddim(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = 50,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, start: int = 0, stop: int | None = None, state: SamplerState | None = None,
    step_hook: StepHook | None = None, eta: float = 0.0,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12): x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z,
    sigma = eta * sqrt((1 - ab_prev) / (1 - ab)) * sqrt(1 - ab / ab_prev). eta = 0 is deterministic;
    eta = 1 is DDPM ancestral sampling with the fixed-small variance on the same timesteps."""
    state = SamplerState() if state is None else state
    for step, (t, ab, ab_prev) in _run_steps(_steps(schedule, num_steps, spacing), start, stop):
        x0, eps = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0, state)
        if callback is not None:
            callback(step, t, x, x0)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * _randn_like(x, generator)
        state.previous_x0 = x0
        x = _hook(step_hook, step, ab_prev, x)
    return x


@torch.no_grad()
def ddpm(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = None,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, start: int = 0, stop: int | None = None, state: SamplerState | None = None,
    step_hook: StepHook | None = None, variance: str = "fixed_small",
) -> torch.Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) from the posterior q(x_prev | x_t, x0):
    mean = sqrt(ab_prev) beta_t / (1 - ab) x0 + sqrt(alpha_t) (1 - ab_prev) / (1 - ab) x_t, with
    variance beta~_t = beta_t (1 - ab_prev) / (1 - ab) ("fixed_small") or beta_t ("fixed_large").
    With num_steps < T the chain is respaced (Nichol & Dhariwal 2021, sec. 4): beta_t = 1 - ab / ab_prev."""
    if variance not in ("fixed_small", "fixed_large"):
        raise ValueError(f"unknown DDPM variance {variance!r}; valid choices: fixed_small, fixed_large")
    state = SamplerState() if state is None else state
    steps = _steps(schedule, num_steps, spacing)
    for step, (t, ab, ab_prev) in _run_steps(steps, start, stop):
        x0, _ = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0, state)
        if callback is not None:
            callback(step, t, x, x0)
        alpha, beta = ab / ab_prev, 1 - ab / ab_prev
        x = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + (math.sqrt(alpha) * (1 - ab_prev) / (1 - ab)) * x
        if step < len(steps) - 1:
            var = beta * (1 - ab_prev) / (1 - ab) if variance == "fixed_small" else beta
            x = x + math.sqrt(var) * _randn_like(x, generator)
        state.previous_x0 = x0
        x = _hook(step_hook, step, ab_prev, x)
    return x


@torch.no_grad()
def dpm_solver_pp_2m(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = 20,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, start: int = 0, stop: int | None = None, state: SamplerState | None = None,
    step_hook: StepHook | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), deterministic, for 15-25 step sampling.

    With alpha = sqrt(ab), sigma = sqrt(1 - ab), lambda = log(alpha / sigma) and h = lambda_next - lambda:
        x_next = (sigma_next / sigma) x + alpha_next (1 - e^{-h}) D,
        D = (1 + 1 / (2r)) x0_i - 1 / (2r) x0_{i-1},  r = h_{i-1} / h   (D = x0_i on the first step).
    The last step lands on sigma = 0 and is first order (x_next = x0), as in diffusers' final_sigmas_type
    "zero". e^{-h} is formed as alpha sigma_next / (sigma alpha_next), which stays finite at zero terminal SNR.
    """
    state = SamplerState() if state is None else state
    steps = _steps(schedule, num_steps, spacing)
    for step, (t, ab, ab_next) in _run_steps(steps, start, stop):
        x0, _ = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0, state)
        if callback is not None:
            callback(step, t, x, x0)
        if step == len(steps) - 1:
            x, h = x0, None
        else:
            alpha, sigma = math.sqrt(ab), math.sqrt(1 - ab)
            alpha_next, sigma_next = math.sqrt(ab_next), math.sqrt(1 - ab_next)
            h = math.log(alpha_next / sigma_next) - math.log(alpha / sigma) if alpha > 0 else math.inf
            d = x0
            if state.previous_x0 is not None and state.previous_h is not None and math.isfinite(state.previous_h):
                r = state.previous_h / h
                d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * state.previous_x0
            exp_neg_h = alpha * sigma_next / (sigma * alpha_next)
            x = (sigma_next / sigma) * x + alpha_next * (1 - exp_neg_h) * d
        state.previous_x0, state.previous_h = x0, h
        x = _hook(step_hook, step, ab_next, x)
    return x


@torch.no_grad()
def consistency(
    model_fn: ModelFn, x: torch.Tensor, schedule: Schedule, *, prediction_type: str = "eps", num_steps: int | None = 4,
    spacing: str = "trailing", clip_x0: bool = True, generator: torch.Generator | None = None,
    callback: Callback | None = None, start: int = 0, stop: int | None = None, state: SamplerState | None = None,
    step_hook: StepHook | None = None,
) -> torch.Tensor:
    """Multistep consistency sampling (Song et al. 2023, "Consistency Models", Algorithm 1; Luo et al. 2023, LCM,
    Algorithm 1), for a consistency-distilled student (diffusion/distillation.py): each step takes the network's
    estimate of x0 and noises it afresh to the next step's level, x_next = sqrt(ab_next) x0 + sqrt(1 - ab_next) z,
    one network call per step. The last step returns x0; one step is a single call from pure noise."""
    state = SamplerState() if state is None else state
    for step, (t, ab, ab_next) in _run_steps(_steps(schedule, num_steps, spacing), start, stop):
        x0, _ = _denoise(model_fn, schedule, x, t, prediction_type, clip_x0, state)
        if callback is not None:
            callback(step, t, x, x0)
        x = x0 if ab_next >= 1.0 else math.sqrt(ab_next) * x0 + math.sqrt(1 - ab_next) * _randn_like(x0, generator)
        state.previous_x0 = x0
        x = _hook(step_hook, step, ab_next, x)
    return x


SAMPLERS = {"ddim": ddim, "ddpm": ddpm, "dpm_solver_pp_2m": dpm_solver_pp_2m, "consistency": consistency}


def get_sampler(name: str):
    """The sampler function registered under name."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid choices: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
