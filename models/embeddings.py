"""Timestep embedding: sinusoidal features (Vaswani et al. 2017, as in Ho et al. 2020) and an MLP."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) timesteps (integer or float) -> (B, dim) features [cos(t f_i), sin(t f_i)],
    f_i = max_period^(-i / (dim / 2)), i = 0 .. dim / 2 - 1 (the ADM / improved-diffusion order)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(embedding, (0, dim % 2))


class TimestepEmbedding(nn.Module):
    """t -> sinusoidal(t, in_dim) -> Linear -> SiLU -> Linear, (B,) -> (B, dim)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.in_dim))
