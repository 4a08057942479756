"""Measure editing on a shapes run: inversion PSNR, attribute-edit success, inpainting, attention pointing game.

    python scripts/evaluate_edits.py run=runs/<shapes run>/<timestamp>
    python scripts/evaluate_edits.py run=... images=8 parts=[inversion] inversion_steps=[10,50]

For held-in and held-out colour/shape pairs and for two sources (the model's own samples, freshly
rendered dataset images); see evaluation/edits.py for each measurement. Prints one line per figure and
writes them all to a JSON file.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from data.shapes import DEFAULT_HELD_OUT
from evaluation.edits import attribute_edits, inpainting, inversion_psnr, pick_sources, pointing_game, source_images
from generation.loading import load_for_sampling, run_or_exit
from schemas.check import ConfigError
from schemas.command_line import exit_if_invalid

PARTS = ("inversion", "edits", "inpainting", "attention")


def evaluate_edits(cfg: DictConfig) -> dict:
    unknown = [p for p in cfg.parts if p not in PARTS]
    if unknown:
        raise ConfigError(f"unknown parts {unknown}; valid choices: {', '.join(PARTS)}")
    run, settings, _ = load_for_sampling(cfg)
    denoiser = run.denoiser(cfg.precision)
    held_out = run.cfg.data.dataset.get("held_out", DEFAULT_HELD_OUT)
    results = {"run": str(cfg.run), "checkpoint": str(run.checkpoint), "sampler": settings.describe()}
    for split, attrs in pick_sources(held_out, cfg.images, cfg.seed).items():
        for kind in ("samples", "dataset"):
            images = source_images(denoiser, attrs, kind, settings, cfg.seed)
            key = f"{split}/{kind}"
            if "inversion" in cfg.parts:
                results[f"inversion/{key}"] = inversion_psnr(denoiser, images, attrs, settings, list(cfg.inversion_steps),
                                                             sorted({1.0, settings.guidance_scale}))
            if "edits" in cfg.parts:
                results[f"edits/{key}"] = attribute_edits(denoiser, images, attrs, settings, tuple(cfg.strengths), cfg.seed)
            if "inpainting" in cfg.parts:
                results[f"inpainting/{key}"] = inpainting(denoiser, images, attrs, settings, cfg.repaint_steps,
                                                          cfg.jump_length, cfg.jump_n_sample, cfg.seed)
        if "attention" in cfg.parts:
            results[f"attention/{split}"] = pointing_game(denoiser, attrs, settings, cfg.seed)
    for name, rows in results.items():
        for row in rows if isinstance(rows, list) else []:
            print(name, " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / "eval" / f"edits_{settings.tag()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out}")
    return results


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="evaluate_edits")
def main(cfg: DictConfig) -> None:
    run_or_exit(evaluate_edits, cfg)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parents[1] / "configs" / "scripts", "evaluate_edits")
    main()
