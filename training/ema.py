"""Exponential moving average of the weights (Polyak averaging), the weights that are sampled from.

ema <- d * ema + (1 - d) * theta after every optimizer step. With warm-up the decay ramps as
d_k = min(decay, (1 + k) / (10 + k)) (the TensorFlow ExponentialMovingAverage rule), so a short run's
EMA is not dominated by its random initialisation.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Holds `model`, a frozen copy of the network whose weights track the trained one."""

    def __init__(self, network: nn.Module, decay: float, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay, self.warmup = decay, warmup
        self.model = copy.deepcopy(network).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, network: nn.Module, step: int) -> None:
        """Blend the network's current weights in; buffers are copied."""
        ema_params = list(self.model.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in network.parameters()], 1.0 - self.decay_at(step))
        for ema_buffer, buffer in zip(self.model.buffers(), network.buffers()):
            ema_buffer.copy_(buffer)
