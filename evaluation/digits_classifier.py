"""The digits judge: `evaluation/classifier.py`'s small CNN trained on the real scikit-learn digits.

Trained once per image size on a stratified 80/20 split (see `split_digits`), with random shifts of
up to 1/8 of the image, and cached as `digits_classifier-{image_size}px-{VERSION}-seed{seed}.safetensors`.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from data.digits import load_digits_with_labels
from evaluation import classifier
from evaluation.classifier import SmallCNN, Split

# Bump when the architecture, data or training recipe changes: it is part of the cache file name.
VERSION = "v1"


def split_digits(image_size: int, cache_dir: str | None = None, seed: int = 0) -> tuple[Split, Split]:
    """((train_images, train_labels), (held_out_images, held_out_labels)): a stratified 80/20 split.

    1437 training and 360 held-out digits. The classifier never sees the held-out ones, so they
    measure its accuracy and serve as a real reference set for Fréchet distance.
    """
    digits, labels = load_digits_with_labels(image_size, cache_dir)
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2,
                                           stratify=labels.numpy(), random_state=seed)
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return (digits.images[train_idx], labels[train_idx]), (digits.images[test_idx], labels[test_idx])


def load_or_train_classifier(image_size: int, cache_dir: str | None, seed: int = 0) -> SmallCNN:
    """The digits classifier for `image_size`, loaded from `cache_dir` or trained (10 epochs) and saved there.

    `model.held_out_accuracy` is its accuracy on the 360 held-out digits. `cache_dir=None` trains
    without saving. The digits dataset itself is cached in the same folder.
    """
    path = cache_dir and os.path.join(cache_dir, f"digits_classifier-{image_size}px-{VERSION}-seed{seed}.safetensors")
    return classifier.load_or_train_classifier(path, image_size, lambda: split_digits(image_size, cache_dir, seed),
                                               seed=seed, epochs=10, batch_size=64)
