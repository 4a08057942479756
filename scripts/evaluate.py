"""Evaluate a trained run: generate from the dataset's prompts and score what comes back.

    python scripts/evaluate.py run=runs/xa_cos/<timestamp>               # full evaluation
    python scripts/evaluate.py run=... num_samples=64 guidance_scale=2   # cheaper, other guidance

shapes: every "a {size} {colour} {shape} in the {position}" prompt, read back programmatically; accuracy
per attribute and all-correct-on-black, held-in and held-out (colour, shape) pairs apart.
digits: classifier accuracy per digit and a classifier-feature FID beside the real-vs-real FID.
fashion: classifier accuracy per class and for held-in / held-out caption templates, FID and precision / recall,
each beside its real-vs-real value.
Writes <run>/eval/step_XXXXXXXX.json and prints a one-line summary.
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from evaluation.runner import evaluate, summary, write_results
from generation.loading import load_for_sampling, run_or_exit
from generation.sampling import make_generate
from schemas.check import ConfigError
from schemas.command_line import exit_if_invalid

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "scripts"


def evaluate_run(cfg: DictConfig) -> dict:
    run, settings, device = load_for_sampling(cfg)
    generate = make_generate(run.model, run.schedule, run.cfg.prediction_type, run.cache, settings, run.shape, cfg.seed,
                             device, cfg.precision, cfg.batch_size, run.first_stage)
    try:
        results = evaluate(run.cfg.data.get("evaluator"), generate, run.cfg.data.dataset, run.cfg.cache_dir, cfg.num_samples)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    results["step"] = run.step
    results["sampler"] = OmegaConf.to_container(OmegaConf.structured(settings))
    tag = settings.tag() + ("_raw" if cfg.weights == "model" else "")  # the raw weights' results sit beside the EMA's
    path = write_results(cfg.run, run.step, results, cfg.num_samples, tag)
    print(f"eval step {run.step} ({settings.describe()}): {summary(results)}  -> {path}")
    return results


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_or_exit(evaluate_run, cfg)


if __name__ == "__main__":
    exit_if_invalid(CONFIGS, "evaluate")
    main()
