"""Sample images from a trained run.

    python scripts/sample.py run=runs/xa_cos/<timestamp> prompts='["a large blue square in the center"]'
    python scripts/sample.py run=... prompts=[...] out=out/ sampler=ddim num_steps=50 guidance_scale=2 seed=0
    python scripts/sample.py run=... prompts=[...] save_trajectory=true   # + trajectory.safetensors/.json for rewinds

Rebuilds the network and text encoder from the run's saved config, loads the EMA weights (weights=model
for the raw ones) and writes <out>/000.png, 001.png, ... (one per prompt, in order) and <out>/grid.png
with each caption above its image. Unset sampler options follow the run's sampler config. Same seed,
same images. save_trajectory=true samples all prompts in one batch and also writes every step's state
(generation/trajectory.py), which `scripts/edit.py mode=rewind` continues from.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import hydra
from omegaconf import DictConfig

from generation.grid import caption_grid, to_pil
from generation.loading import load_for_sampling, run_or_exit
from generation.sampling import make_generate
from schemas.command_line import exit_if_invalid
from generation.trajectory import sample_with_trajectory, save_trajectory

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "scripts"


def sample(cfg: DictConfig) -> Path:
    prompts = list(cfg.prompts)  # a non-empty list of strings (schemas/scripts.py)
    run, settings, device = load_for_sampling(cfg)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / "samples" / f"sample_{stamp}"
    if cfg.get("save_trajectory", False):
        images, trajectory = sample_with_trajectory(run.denoiser(cfg.precision), prompts, settings, cfg.seed)
        out.mkdir(parents=True, exist_ok=True)
        save_trajectory(trajectory, out / "trajectory", {"run": str(cfg.run), "checkpoint": str(run.checkpoint)})
    else:
        generate = make_generate(run.model, run.schedule, run.cfg.prediction_type, run.cache, settings, run.shape,
                                 cfg.seed, device, cfg.precision, cfg.batch_size, run.first_stage)
        images = generate(prompts)
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        to_pil(image).save(out / f"{i:03d}.png")
    caption_grid(images, prompts).save(out / "grid.png")
    print(f"{len(prompts)} images from {run.checkpoint} ({settings.describe()}) -> {out}")
    return out


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="sample")
def main(cfg: DictConfig) -> None:
    run_or_exit(sample, cfg)


if __name__ == "__main__":
    exit_if_invalid(CONFIGS, "sample")
    main()
