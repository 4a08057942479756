"""Classifier-free guidance (Ho & Salimans 2022) with one batched forward, and guidance rescale.

guided = uncond + w (cond - uncond)   in the network's own output space (eps, x0 or v).
Guidance rescale (Lin et al. 2023, sec. 3.4, eq. 15-16) matches the per-sample standard deviation of the
guided output to the conditional one, then mixes: phi * guided * std(cond) / std(guided) + (1 - phi) guided.
It counters the over-exposure that large w causes, most visibly with zero-terminal-SNR schedules.
A guidance interval (Kynkaanniemi et al. 2024, "Applying guidance in a limited interval improves sample and
distribution quality") guides only the timesteps inside [low, high] and runs the conditional model alone
elsewhere (half the work there). The paper finds guidance harmful at the noisiest steps and unneeded at the
cleanest; on shapes, leaving out the cleanest steps is what changed results (notes/2026-12-01-time-to-quality.md §16).

Both wrappers take an optional third argument, the x0 estimate of the previous step, and pass it to a
self-conditioned network (models/unet.py `self_condition`) as x_self_cond; they are then marked
`self_conditioned`, which is how the samplers know to give it (diffusion/samplers.py model_output).
Under guidance both branches read the same (guided) estimate.
"""
from __future__ import annotations

from typing import Callable

import torch


def _stack(cond: torch.Tensor | None, uncond: torch.Tensor | None, name: str) -> torch.Tensor | None:
    """cat([cond, uncond]) along the batch, broadcasting an uncond of batch 1."""
    if cond is None and uncond is None:
        return None
    if cond is None or uncond is None:
        raise ValueError(f"{name} is given for only one of the conditional / unconditional branches")
    if uncond.shape[0] == 1 and cond.shape[0] != 1:
        uncond = uncond.expand(cond.shape[0], *uncond.shape[1:])
    if uncond.shape != cond.shape:
        raise ValueError(f"{name}: conditional shape {tuple(cond.shape)} and unconditional {tuple(uncond.shape)} differ")
    return torch.cat([cond, uncond])


def guided_model_fn(
    model: Callable[..., torch.Tensor],
    cond: dict[str, torch.Tensor | None],
    uncond: dict[str, torch.Tensor | None],
    guidance_scale: float,
    guidance_rescale: float = 0.0,
    interval: tuple[float, float] | None = None,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A model_fn(x_t, t) for the samplers that runs conditional and unconditional in one forward.

    cond / uncond: keyword arguments of the model (context, context_mask, pooled), batch B or, for
    uncond, 1. Returns (B, C, H, W) guided outputs. guidance_scale 1 reproduces the conditional output.
    interval: (low, high) timesteps, both included: guidance there only, the conditional output elsewhere.
    """
    kwargs = {name: _stack(cond.get(name), uncond.get(name), name) for name in set(cond) | set(uncond)}
    conditional = conditional_model_fn(model, cond)

    def model_fn(xt: torch.Tensor, t: torch.Tensor, previous_x0: torch.Tensor | None = None) -> torch.Tensor:
        inside = None if interval is None else (t >= interval[0]) & (t <= interval[1])
        if inside is not None and not inside.any():
            return conditional(xt, t, previous_x0)
        extra = {} if previous_x0 is None else {"x_self_cond": torch.cat([previous_x0, previous_x0])}
        out_cond, out_uncond = model(torch.cat([xt, xt]), torch.cat([t, t]), **kwargs, **extra).chunk(2)
        guided = out_uncond + guidance_scale * (out_cond - out_uncond)
        if guidance_rescale > 0:
            dims = tuple(range(1, guided.ndim))
            rescaled = guided * (out_cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
            guided = guidance_rescale * rescaled + (1 - guidance_rescale) * guided
        if inside is not None and not inside.all():
            guided = torch.where(inside.view(-1, *[1] * (guided.ndim - 1)), guided, out_cond)
        return guided

    model_fn.self_conditioned = is_self_conditioned(model)
    return model_fn


def conditional_model_fn(model: Callable[..., torch.Tensor], cond: dict[str, torch.Tensor | None]):
    """A model_fn(x_t, t) that runs the model on its condition alone (no guidance, half the work)."""
    def model_fn(xt: torch.Tensor, t: torch.Tensor, previous_x0: torch.Tensor | None = None) -> torch.Tensor:
        return model(xt, t, **cond, **({} if previous_x0 is None else {"x_self_cond": previous_x0}))

    model_fn.self_conditioned = is_self_conditioned(model)
    return model_fn


def is_self_conditioned(model) -> bool:
    """Whether the network reads its previous x0 estimate (a U-Net built with self_condition)."""
    return bool(getattr(model, "self_condition", False))
