"""What an autoencoder run writes besides its steps: checkpoints carrying the latents' scaling factor,
and reconstruction grids with their PSNR.

Every checkpoint first measures the scaling factor (1 / std of the EMA encoder's posterior means on the
first `scale_images` training images, SD's recipe) and stores it in both networks' `scaling_factor`
buffer, so any checkpoint, final or interrupted, can serve as a first stage. The measurement uses the
posterior mean, which draws no random numbers: resumed runs stay bitwise identical.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from generation.grid import caption_grid, grid_array
from models.autoencoder_loss import psnr
from training import distributed as ddp
from training.resume import save

log = logging.getLogger("train")
PREVIEW_IMAGES = 8
PSNR_IMAGES = 256


@torch.no_grad()
def latents(model, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> posterior means (N, c, h, w), unscaled, float32."""
    out = [model.encode(images[i : i + batch_size].float() / 127.5 - 1.0).mode() for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def measure_scaling_factor(model, images: torch.Tensor) -> float:
    """1 / std of the latents over every entry (SD: 1 / z.flatten().std())."""
    return 1.0 / latents(model, images).std().item()


@torch.no_grad()
def reconstruct(model, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """uint8 images -> reconstructions from the posterior mean, float in [-1, 1]."""
    out = [model.decode(model.encode(images[i : i + batch_size].float() / 127.5 - 1.0).mode()).clamp(-1, 1)
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


class AutoencoderOutputs:
    """Checkpoints and reconstruction previews (when: training/loop.py); an autoencoder run has no evaluation."""

    eval_every = 0

    def __init__(self, run_dir: Path, cfg, parts, logger, dist: ddp.Distributed):
        self.run_dir, self.cfg, self.parts, self.logger, self.dist = run_dir, cfg, parts, logger, dist

    def checkpoint(self, step: int, position: int, skipped: int) -> None:
        ddp.check_in_sync(self.parts.model, self.dist)
        if self.dist.is_main:
            p = self.parts
            factor = measure_scaling_factor(p.ema.model, p.images[: self.cfg.scale_images])
            for network in (p.model, p.ema.model):
                network.scaling_factor.fill_(factor)
            path = save(self.run_dir, step, position, skipped, self.cfg, p.derived(), **p.state())
            log.info(f"checkpoint step {step} (scaling factor {factor:.4g}) -> {path}")
        ddp.barrier(self.dist)

    def preview(self, step: int) -> None:
        """samples/step_XXXXXXXX.png: inputs above their EMA reconstructions; eval/psnr on the first images."""
        if self.dist.is_main:
            ema, images = self.parts.ema.model, self.parts.images
            value = psnr(images[:PSNR_IMAGES].float() / 127.5 - 1.0, reconstruct(ema, images[:PSNR_IMAGES])).mean().item()
            inputs = images[:PREVIEW_IMAGES]
            rebuilt = ((reconstruct(ema, inputs) + 1) * 127.5).round().to(torch.uint8)
            grid = caption_grid(torch.cat([inputs, rebuilt]).cpu(), ["input"] * len(inputs) + ["reconstruction"] * len(inputs),
                                columns=len(inputs))
            path = Path(self.run_dir) / "samples" / f"step_{step:08d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            grid.save(path)
            self.logger.image("reconstructions/ema", grid_array(grid), step)
            self.logger.scalars({"eval/psnr": value}, step)
            log.info(f"step {step}: PSNR {value:.2f} dB on the first {min(PSNR_IMAGES, len(images))} training images")
        ddp.barrier(self.dist)
