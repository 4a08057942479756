"""A tiny Fashion-MNIST look-alike written as gzipped idx files, so that tests need no system package.

Class k is a 16x16 patch of bright stripes over faint noise, horizontal for even k and vertical for odd,
1 to 5 pixels wide as k grows, shifted by up to two pixels: a texture (which the classifier's global
pooling keeps, where it would lose a position) easy enough to learn in seconds, varied enough to have a
distribution.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def fixture_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 28, 28) uint8 images of the given labels (N,)."""
    images = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels):
        width = 1 + label // 2
        stripes = (np.arange(16) // width) % 2 == 0
        patch = np.broadcast_to(stripes[:, None] if label % 2 == 0 else stripes[None, :], (16, 16))
        top, left = 6 + rng.integers(-2, 3, size=2)
        image[top:top + 16, left:left + 16][patch] = rng.integers(180, 256, size=int(patch.sum()))
    return images


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped idx file: magic 0x0000 08 NDIM, big-endian int32 sizes, bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fashion_fixture(folder: Path, num_train: int = 200, num_test: int = 100, seed: int = 0) -> dict:
    """Write train-/t10k- images and labels into `folder`; returns {split: (images, labels)} as written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, prefix, n in (("train", "train", num_train), ("test", "t10k", num_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = fixture_images(labels, rng)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        written[split] = (images, labels)
    return written
