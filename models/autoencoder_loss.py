"""The autoencoder's training loss: reconstruction (L1 and/or L2) plus a small KL term.

As in Stable Diffusion's first stage (Rombach et al. 2022, sec. 3.1; ldm/modules/losses/contperceptual.py),
with every term per sample and per pixel, so weights do not depend on the image size:
    loss = l1_weight * mean|x - x_rec| + l2_weight * mean (x - x_rec)^2 + kl_weight * KL(q(z|x) || N(0, I)) / (C H W)
SD sums both the reconstruction error over pixels and the KL over latent entries and weights the KL by
1e-6; dividing both by the pixel count keeps that ratio, so kl_weight = 1e-6 here means what it means there.
A small KL weight only keeps the latents near the origin with a bounded scale; it is not a VAE prior.
"""
from __future__ import annotations

import torch


def autoencoder_losses(model, x: torch.Tensor, l1_weight: float = 1.0, l2_weight: float = 0.0,
                       kl_weight: float = 1e-6) -> dict[str, torch.Tensor]:
    """x (B, C, H, W) in [-1, 1] -> per-sample terms, each (B,) float32: loss, l1, l2, kl (per pixel, unweighted).
    Decodes a posterior sample drawn from the global RNG (seed it for reproducible steps)."""
    reconstruction, posterior = model(x)
    error = reconstruction.float() - x.float()
    terms = {"l1": error.abs().mean(dim=(1, 2, 3)), "l2": error.pow(2).mean(dim=(1, 2, 3)),
             "kl": posterior.kl() / x[0].numel()}
    terms["loss"] = l1_weight * terms["l1"] + l2_weight * terms["l2"] + kl_weight * terms["kl"]
    return terms


def psnr(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (B,), for images in [-1, 1] (peak-to-peak 2)."""
    mse = (reconstruction.float().clamp(-1, 1) - x.float()).pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-10))
