"""Image-to-image (SDEdit, Meng et al. 2022): noise an input image to an intermediate timestep and run
the rest of the sampling chain from there.

With a chain of S steps and strength s in [0, 1], the last round(s S) steps run. The input is noised to
the timestep of the first step that runs, exactly: noising it one step further (or less) than the step
that then denoises it leaves visible noise (or wastes a step). strength 0 runs nothing and returns the
input; strength 1 runs the whole chain from the sampler's usual start, the pure noise itself, so it is
text-to-image with the same noise, bitwise.
"""
from __future__ import annotations

import torch

from diffusion.forward import q_sample
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps


def start_step(num_steps: int, strength: float) -> int:
    """Index of the first of num_steps steps that runs at this strength (num_steps: nothing runs)."""
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength:g}")
    return num_steps - round(strength * num_steps)


def noise_to_step(schedule: Schedule, x0: torch.Tensor, noise: torch.Tensor, num_steps: int, spacing: str,
                  start: int) -> torch.Tensor:
    """x_t at the timestep of step `start` of the chain: q_sample(x0, t_start, noise); the noise itself at
    step 0 (the sampler's start, as in text-to-image) and x0 itself at start = num_steps (the clean end).
    x0, noise: (B, C, H, W)."""
    if start == 0:
        return noise
    if start == num_steps:
        return x0
    t = int(sampling_timesteps(schedule.num_timesteps, num_steps, spacing)[start])
    return q_sample(schedule, x0, torch.full((x0.shape[0],), t, device=x0.device), noise)


def img2img(sampler, model_fn, x0: torch.Tensor, noise: torch.Tensor, schedule: Schedule, *, strength: float,
            num_steps: int | None, spacing: str = "trailing", **sampler_kwargs) -> tuple[torch.Tensor, int]:
    """(edited x (B, C, H, W), the start step) for an input x0 and noise, both (B, C, H, W) in [-1, 1].
    sampler_kwargs go to the sampler (prediction_type, clip_x0, generator, callback, step_hook, options)."""
    num_steps = num_steps or schedule.num_timesteps
    start = start_step(num_steps, strength)
    x = noise_to_step(schedule, x0, noise, num_steps, spacing, start)
    if start == num_steps:
        return x0.clone(), start
    return sampler(model_fn, x, schedule, num_steps=num_steps, spacing=spacing, start=start, **sampler_kwargs), start
