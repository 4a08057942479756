"""Chooses the evaluation that fits a dataset (its config's `evaluator`) and formats its summary."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch

from data.fashion import DEFAULT_ROOT as FASHION_ROOT
from data.shapes import DEFAULT_HELD_OUT
from evaluation.compose_eval import PROMPTS_PER_SPLIT, evaluate_compose
from evaluation.digits_eval import evaluate_digits
from evaluation.fashion_eval import evaluate_fashion
from evaluation.shapes_eval import evaluate_shapes
from schemas.data import EVALUATORS


def evaluate(evaluator: str | None, generate: Callable[[list[str]], torch.Tensor], dataset_cfg, cache_dir,
             num_samples: int | None = None) -> dict[str, float]:
    """Run the dataset's evaluation. num_samples=None is the full evaluation (every shapes prompt, 500
    digits, 24 compose prompts per category and split, 1000 Fashion-MNIST samples); a number makes it cheap enough
    for use during training."""
    if evaluator == "shapes":
        held_out = dataset_cfg.get("held_out", DEFAULT_HELD_OUT)
        return evaluate_shapes(generate, held_out, max_prompts=None if num_samples is None else max(1, num_samples // 2))
    if evaluator == "digits":
        return evaluate_digits(generate, dataset_cfg.get("image_size", 32), cache_dir, num_samples or 500)
    if evaluator == "compose":
        per_split = PROMPTS_PER_SPLIT if num_samples is None else max(1, num_samples // 8)  # 4 categories x 2 splits
        return evaluate_compose(generate, dataset_cfg.get("held_out", DEFAULT_HELD_OUT), per_split)
    if evaluator == "fashion":
        return evaluate_fashion(generate, dataset_cfg.get("root", FASHION_ROOT), dataset_cfg.get("image_size", 32),
                                cache_dir, num_samples or 1000)
    raise ValueError(f"no evaluation for this dataset (evaluator={evaluator!r}); valid choices: {', '.join(EVALUATORS)}")


def summary(results: dict[str, float]) -> str:
    """The headline numbers on one line."""
    keys = [k for k in ("held_in/all", "held_out/all", "overall", "held_in/black_background", "accuracy", "accuracy/held_out",
                        "fid", "fid_real_vs_real", "precision", "recall")
            if k in results]
    return "  ".join(f"{k}={results[k]:.4g}" for k in keys)


def write_results(run_dir, step: int, results: dict, num_samples: int | None, sampler: str) -> Path:
    """<run>/eval/step_XXXXXXXX[_nN]_<sampler>.json, written atomically. `_nN` marks a reduced evaluation;
    `sampler` names the sampling settings (e.g. ddim50_g3), so evaluations under other settings sit beside it."""
    folder = Path(run_dir) / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    size = "" if num_samples is None else f"_n{num_samples}"
    path = folder / f"step_{step:08d}{size}_{sampler}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path
