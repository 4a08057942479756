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
