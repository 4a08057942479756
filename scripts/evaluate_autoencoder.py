"""Measure a train_autoencoder.py run on fresh shapes images: PSNR and the reader on reconstructions.

    python scripts/evaluate_autoencoder.py run=runs/ae_shapes64/<timestamp>
    python scripts/evaluate_autoencoder.py run=... checkpoint=500 weights=model

Renders every colour/shape/size/position combination once (held-in and held-out pairs apart; none is a
training image), encodes to the posterior mean, scales and unscales as a latent diffusion run does, decodes,
and prints PSNR (mean and worst) and the reader's all-attributes accuracy on inputs and reconstructions.
Writes <run>/eval/autoencoder_<checkpoint>.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from evaluation.autoencoder_eval import evaluate_autoencoder
from generation.first_stage import load_autoencoder
from generation.loading import run_or_exit, select_device
from schemas.check import ConfigError
from schemas.command_line import exit_if_invalid


def evaluate(cfg: DictConfig) -> dict:
    first_stage = load_autoencoder(cfg.run, cfg.checkpoint, cfg.weights, select_device(cfg.device))
    ae = first_stage.autoencoder
    if ae.in_channels != 3:
        raise ConfigError(f"run={cfg.run}: a {ae.in_channels}-channel autoencoder; this evaluation renders RGB shapes images")
    results = {"run": str(cfg.run), "checkpoint": str(first_stage.checkpoint), "weights": cfg.weights,
               "scaling_factor": first_stage.scaling_factor, "image_size": ae.image_size,
               **evaluate_autoencoder(first_stage, ae.image_size, seed=cfg.seed)}
    for split in ("held_in", "held_out"):
        print(f"{split}: psnr {results[f'{split}/psnr']:.2f} dB (worst {results[f'{split}/psnr_min']:.2f})  reader "
              f"{results[f'{split}/reader_reconstructions']:.3f} on reconstructions, "
              f"{results[f'{split}/reader_inputs']:.3f} on inputs  ({results[f'{split}/images']} images)")
    out = Path(cfg.run) / "eval" / f"autoencoder_{first_stage.checkpoint.name}_{cfg.weights}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out}")
    return results


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="evaluate_autoencoder")
def main(cfg: DictConfig) -> None:
    run_or_exit(evaluate, cfg)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parents[1] / "configs" / "scripts", "evaluate_autoencoder")
    main()
