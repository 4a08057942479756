"""Which timesteps a sampler visits when it takes fewer steps than the schedule has.

Spacings follow Lin et al. 2023, Table 2 (the names diffusers uses):
- linspace: round(linspace(0, T - 1, S))                       includes t = 0 and t = T - 1
- leading:  arange(S) * (T // S)                                the DDIM paper's choice; never visits T - 1
- trailing: round(arange(T, 0, -T / S)) - 1                     always starts at T - 1 (pure noise with
                                                                zero-terminal-SNR schedules)
"""
from __future__ import annotations

import torch

SPACINGS = ("linspace", "leading", "trailing")


def sampling_timesteps(num_timesteps: int, num_steps: int, spacing: str = "trailing") -> torch.Tensor:
    """(S,) long tensor of distinct timesteps in decreasing order."""
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; valid choices: {', '.join(SPACINGS)}")
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must be between 1 and the schedule's T={num_timesteps}, got {num_steps}")
    if spacing == "linspace":
        steps = torch.linspace(0, num_timesteps - 1, num_steps, dtype=torch.float64).round()
    elif spacing == "leading":
        steps = torch.arange(num_steps, dtype=torch.float64) * (num_timesteps // num_steps)
    else:  # T - k T / S for k = 0 .. S - 1, computed without arange's float step (which can add a step at -1)
        steps = (num_timesteps - torch.arange(num_steps, dtype=torch.float64) * num_timesteps / num_steps).round() - 1
        steps = steps.flip(0)
    return steps.long().flip(0)
