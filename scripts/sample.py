"""Sample images from a trained run.

    python scripts/sample.py run=runs/xa_cos/<timestamp> prompts='["a large blue square in the center"]'
    python scripts/sample.py run=... prompts=[...] out=out/ sampler=ddim num_steps=50 guidance_scale=3 seed=0

Rebuilds the network and text encoder from the run's saved config, loads the EMA weights (weights=model
for the raw ones) and writes <out>/000.png, 001.png, ... (one per prompt, in order) and <out>/grid.png
with each caption above its image. Unset sampler options follow the run's sampler config. Same seed,
same images.
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, ListConfig

from training.checkpoint import CheckpointError
from training.grid import caption_grid, to_pil
from training.loading import load_run, sampler_settings
from training.sampling import fixed_noise, sample_images
from training.validate import ConfigError, check_precision, select_device


def prompt_list(prompts) -> list[str]:
    prompts = list(prompts) if isinstance(prompts, (list, tuple, ListConfig)) else [prompts]
    if not prompts:
        raise ConfigError("prompts is empty; give at least one, e.g. prompts='[\"a small red circle in the top left\"]'")
    return [str(p) for p in prompts]


def sample(cfg: DictConfig) -> Path:
    prompts = prompt_list(cfg.prompts)
    device = select_device(cfg.device)
    check_precision(cfg.precision, device)
    run = load_run(cfg.run, cfg.checkpoint, cfg.weights, device)
    settings = sampler_settings(run.cfg, run.schedule.num_timesteps, sampler=cfg.sampler, num_steps=cfg.num_steps,
                                guidance_scale=cfg.guidance_scale, guidance_rescale=cfg.guidance_rescale)
    derived = run.cfg.derived
    noise = fixed_noise(len(prompts), derived.in_channels, derived.image_size, cfg.seed, device)
    images = sample_images(run.model, run.schedule, run.cfg.prediction_type, run.cache, prompts, settings, noise,
                           batch_size=cfg.batch_size, precision=cfg.precision,
                           generator=torch.Generator(device=device).manual_seed(cfg.seed))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / "samples" / f"sample_{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images.cpu()):
        to_pil(image).save(out / f"{i:03d}.png")
    caption_grid(images.cpu(), prompts).save(out / "grid.png")
    print(f"{len(prompts)} images from {run.checkpoint} ({settings.name}, {settings.num_steps} steps, "
          f"guidance {settings.guidance_scale}) -> {out}")
    return out


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="sample")
def main(cfg: DictConfig) -> None:
    try:
        sample(cfg)
    except (ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
