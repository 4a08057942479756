"""Inpainting with a model not trained for it: the known pixels are forced back in at every step.

blend (Lugmayr et al. 2022, eq. 8; Avrahami et al. 2022): after each step, the known pixels noised to the
*next* step's level replace the unknown ones' counterpart, x_next = m * x_next + (1 - m) * q(known, next).
After the last step (alpha_bar = 1) that puts the known pixels back exactly.
RePaint (Lugmayr et al. 2022, Algorithm 1 and the jump schedule of its code): the same blending, but the
chain repeatedly jumps back `jump_length` steps by re-noising, x_i = sqrt(ab_i / ab_j) x_j + sqrt(1 -
ab_i / ab_j) z, and denoises them again, `jump_n_sample` times in all, so the generated region has time
to harmonise with the known one.
Masks are (B or 1, 1, H, W) bool, true = regenerate.
"""
from __future__ import annotations

import math

import torch

from diffusion.samplers import SamplerState
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps


def blend_hook(known: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
    """A sampler step_hook that puts known (B, C, H, W) noised to the next level where mask is false. The
    re-noising draws from its own generator, so the sampler's random stream is that of text-to-image."""
    def hook(step: int, alpha_bar_next: float, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(known.shape, generator=generator, dtype=known.dtype,
                            device=generator.device if generator is not None else known.device).to(known.device)
        noisy = math.sqrt(alpha_bar_next) * known + math.sqrt(1 - alpha_bar_next) * noise
        return torch.where(mask, x, noisy)
    return hook


def paste_back(x: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The known pixels exactly where mask is false, x where it is true."""
    return torch.where(mask, x, known)


def repaint_schedule(num_steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> list[int]:
    """The sequence of chain positions RePaint visits: 0 = the first step's noise, num_steps = clean.
    Consecutive positions differ by one: +1 is a denoising step, -1 a re-noising one. Jumps back happen
    after reaching the positions num_steps - 1 - k jump_length (k = 0, 1, ... while a jump fits), each
    jump_n_sample - 1 times. Length: num_steps + 1 + 2 jump_length (jump_n_sample - 1) ceil((num_steps -
    jump_length) / jump_length); jump_n_sample = 1 gives the plain chain 0, 1, ..., num_steps."""
    if jump_length < 1 or jump_n_sample < 1:
        raise ValueError(f"jump_length and jump_n_sample must be >= 1, got {jump_length} and {jump_n_sample}")
    # Levels count the steps still to run (num_steps at the start); the jump points follow the RePaint code.
    jumps = {j + 1: jump_n_sample - 1 for j in range(0, num_steps - jump_length, jump_length)}
    level, levels = num_steps, [num_steps]
    while level >= 1:
        level -= 1
        levels.append(level)
        if jumps.get(level, 0) > 0:
            jumps[level] -= 1
            for _ in range(jump_length):
                level += 1
                levels.append(level)
    return [num_steps - level for level in levels]


def renoise(schedule: Schedule, x: torch.Tensor, num_steps: int, spacing: str, source: int, target: int,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """x at chain position `source` -> a sample of q(x at `target` | x) for target < source (noisier):
    sqrt(ab_target / ab_source) x + sqrt(1 - ab_target / ab_source) z. Position num_steps is the clean image."""
    timesteps = sampling_timesteps(schedule.num_timesteps, num_steps, spacing).tolist()
    alpha_bar = lambda i: 1.0 if i == num_steps else float(schedule.alpha_bar[timesteps[i]])
    ratio = alpha_bar(target) / alpha_bar(source)
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                    device=generator.device if generator is not None else x.device).to(x.device)
    return math.sqrt(ratio) * x + math.sqrt(1 - ratio) * z


def repaint(sampler, model_fn, x: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, schedule: Schedule, *,
            num_steps: int, spacing: str = "trailing", jump_length: int = 10, jump_n_sample: int = 10,
            generator: torch.Generator | None = None, blend_generator: torch.Generator | None = None,
            **sampler_kwargs) -> torch.Tensor:
    """RePaint from the starting noise x (B, C, H, W): each +1 of the schedule is one sampler step with
    the blend hook, each -1 a re-noising. A multistep sampler's memory is dropped after a jump (the x0
    it remembers belongs to the chain before the jump). Returns the clean x; model calls = descents."""
    hook, state = blend_hook(known, mask, blend_generator), SamplerState()
    positions = repaint_schedule(num_steps, jump_length, jump_n_sample)
    for source, target in zip(positions, positions[1:]):
        if target == source + 1:
            x = sampler(model_fn, x, schedule, num_steps=num_steps, spacing=spacing, start=source, stop=target,
                        state=state, step_hook=hook, generator=generator, **sampler_kwargs)
        else:
            x, state = renoise(schedule, x, num_steps, spacing, source, target, generator), SamplerState()
    return x


def blend(sampler, model_fn, x: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, schedule: Schedule, *,
          blend_generator: torch.Generator | None = None, **sampler_kwargs) -> torch.Tensor:
    """The whole chain from the starting noise x (B, C, H, W) with the blend hook; model calls = steps."""
    return sampler(model_fn, x, schedule, step_hook=blend_hook(known, mask, blend_generator), **sampler_kwargs)
