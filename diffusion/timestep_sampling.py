"""How training draws timesteps: uniformly (Ho et al. 2020), stratified, or logit-normal (Esser et al. 2024,
sec. 3.1).

The loss is a sum over timesteps; the sampling density decides how much of the training signal each
noise level gets. Logit-normal draws u ~ N(mean, std^2) and takes t = floor(sigmoid(u) T): it spends
fewer samples on the nearly clean and the nearly pure-noise ends, where the target is easy (or
hopeless), and more in the middle, where the image's layout and shapes are decided. `mean` > 0 moves
the mass towards noisier timesteps.

Stratified keeps the uniform density but spreads each batch evenly over it (the low-discrepancy sampler of
Kingma et al. 2021, "Variational Diffusion Models", appendix I.1): one offset u0 ~ U[0, 1) per batch, the i-th of
n draws at (u0 + i/n) mod 1, handed to the batch's samples in a random order. Every draw is still uniform on its
own, so the expected loss is the uniform one; a batch of 32 just never leaves a tenth of the schedule empty, which
lowers the variance of the step's gradient.
"""
from __future__ import annotations

import torch

TIMESTEP_SAMPLINGS = ("uniform", "stratified", "logit_normal")


def sample_timesteps(n: int, num_timesteps: int, generator: torch.Generator, device, method: str = "uniform",
                     mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """(n,) long timesteps in [0, num_timesteps), drawn from `generator` (same draws for the same state)."""
    if method == "uniform":
        return torch.randint(0, num_timesteps, (n,), generator=generator, device=device)
    if method == "stratified":
        u = (torch.rand(1, generator=generator, device=device) + torch.arange(n, device=device) / n) % 1
        u = u[torch.randperm(n, generator=generator, device=device)]
        return (u * num_timesteps).long().clamp(max=num_timesteps - 1)
    if method == "logit_normal":
        u = torch.randn(n, generator=generator, device=device) * std + mean
        return (torch.sigmoid(u) * num_timesteps).long().clamp(max=num_timesteps - 1)
    raise ValueError(f"unknown timestep_sampling {method!r}; valid choices: {', '.join(TIMESTEP_SAMPLINGS)}")
