"""The denoising training loss, per sample, with optional min-SNR-gamma weighting.

L(theta) = E_{x0, eps, t} w(t) || f_theta(x_t, t, c) - target_t ||^2    (Ho et al. 2020, eq. 14)
where the target is eps, x0 or v (diffusion/forward.py). Min-SNR-gamma (Hang et al. 2023) weights every
timestep as if the loss were on x0 and caps that weight at gamma:
    eps: w = min(SNR, gamma) / SNR,   x0: w = min(SNR, gamma),   v: w = min(SNR, gamma) / (SNR + 1).

Self-conditioning (Chen et al. 2022, "Analog Bits", sec. 3.2): for the samples in `self_cond_mask` the
network first runs without gradient on x_t with no estimate (zeros), and its x0 prediction, detached,
becomes the second input of the pass the loss is taken on; the other samples get zeros. At sampling
time the x0 of the previous step takes that place (diffusion/samplers.py), so the network learns both
to start a chain and to refine its own estimate. The first pass runs on the selected samples only
(half the batch on average), which costs one host sync (nonzero) per micro-batch and a batch size that varies
from step to step: with `compile=blocks` (dynamic=False) each new size is one more graph, until dynamo's
recompile limit sends the blocks back to eager; eager, the default, is unaffected. Not measured compiled.
"""
from __future__ import annotations

from typing import Callable

import torch

from diffusion.forward import check_prediction_type, q_sample, target, to_x0_eps
from diffusion.schedules import Schedule


def min_snr_weight(schedule: Schedule, t: torch.Tensor, prediction_type: str, gamma: float) -> torch.Tensor:
    """(B,) float32 weights. At zero terminal SNR the eps weight min(SNR, gamma) / SNR is taken as its limit, 1."""
    snr = schedule.snr.to(t.device)[t]
    if prediction_type == "eps":
        weight = (gamma / snr).clamp(max=1.0)
    elif prediction_type == "x0":
        weight = snr.clamp(max=gamma)
    else:
        weight = snr.clamp(max=gamma) / (snr + 1)
    return weight.float()


def training_losses(
    model: Callable[..., torch.Tensor],
    schedule: Schedule,
    x0: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    prediction_type: str = "eps",
    min_snr_gamma: float | None = None,
    self_cond_mask: torch.Tensor | None = None,
    clip_x0: bool = True,
    **model_kwargs,
) -> torch.Tensor:
    """Per-sample losses, shape (B,), float32.

    model: called as model(x_t, t, **model_kwargs) -> (B, C, H, W). x0, eps: (B, C, H, W); t: (B,) long.
    self_cond_mask: (B,) bool, for a self-conditioned network only (None: the network has no such input);
    clip_x0: clip the first pass's x0 estimate to [-1, 1], as the samplers do in pixel space.
    Per-sample values are returned (not their mean) so the caller can log them by timestep bucket.
    """
    check_prediction_type(prediction_type)
    xt = q_sample(schedule, x0, t, eps)
    if self_cond_mask is not None:
        model_kwargs["x_self_cond"] = self_condition_estimate(model, schedule, xt, t, self_cond_mask, prediction_type,
                                                              clip_x0, model_kwargs)
    output = model(xt, t, **model_kwargs)
    goal = target(schedule, x0, t, eps, prediction_type)
    loss = (output.float() - goal.float()).pow(2).mean(dim=tuple(range(1, x0.ndim)))
    if min_snr_gamma is not None:
        loss = loss * min_snr_weight(schedule, t, prediction_type, min_snr_gamma)
    return loss


@torch.no_grad()
def self_condition_estimate(model, schedule: Schedule, xt: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                            prediction_type: str, clip_x0: bool, model_kwargs: dict) -> torch.Tensor:
    """(B, C, H, W): the network's x0 estimate (no gradient, no estimate given) where mask is set, else zeros."""
    estimate = torch.zeros_like(xt)
    index = mask.nonzero().squeeze(1)
    if len(index):
        picked = {k: None if v is None else v[index] for k, v in model_kwargs.items()}
        output = model(xt[index], t[index], **picked).to(xt.dtype)
        estimate[index] = to_x0_eps(schedule, output, xt[index], t[index], prediction_type, clip_x0)[0]
    return estimate
