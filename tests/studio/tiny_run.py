"""A tiny trained run for the studio tests (tests/training_harness.py's TINY config, 2 steps), and helpers."""
from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tests.training_harness import run_train


def train_tiny_run(folder: Path, cache: Path) -> Path:
    old = os.getcwd()
    os.chdir(folder)
    try:
        return run_train(["name=for_studio", "max_steps=2", "ckpt_every=1"], cache)
    finally:
        os.chdir(old)


def png_b64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def distill_tiny_run(teacher: Path, folder: Path, cache: Path) -> Path:
    from hydra.core.hydra_config import HydraConfig

    import train_distill
    from tests.training_harness import compose_train
    old = os.getcwd()
    os.chdir(folder)
    try:
        cfg = compose_train([f"teacher.run={teacher}", "name=student", "max_steps=2", "ckpt_every=1"], cache,
                            ["batch_size=8", "warmup_steps=1", "log_every=1", "sample_every=0", "eval_every=0",
                             "precision=fp32", "sampler.num_steps=2", "distill.skip=5"], config="train_distill")
        train_distill.train(cfg)
        return Path(HydraConfig.get().runtime.output_dir)
    finally:
        os.chdir(old)
