"""Real handwritten digits from scikit-learn, captioned with paraphrases that name the digit.

`sklearn.datasets.load_digits` ships inside scikit-learn (no download): 1797 scans of digits 0-9
from 43 writers, 8x8 pixels with ink intensities 0..16 (UCI "Optical Recognition of Handwritten
Digits", Alpaydin & Kaynak 1998). They are the smallest *real* text-to-image task this project can
train and evaluate fully offline, and `evaluation/digits_classifier.py` can score samples on them.

Ink is bright on a dark background, as in MNIST. Each image gets every paraphrase of its digit as a
caption ("a handwritten seven", "the digit 7", ...); training draws one per visit, so the text
encoder must map different wordings of a digit to the same image distribution.
"""
from __future__ import annotations

import datasets
import numpy as np
import sklearn.datasets
import torch
from PIL import Image

from data.captioned import CaptionedImages, from_hf
from data.disk_cache import cached_dataset
from data.preprocess import preprocess_image

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# {word} is the digit's English name, {numeral} its symbol. The first template is the canonical prompt.
CAPTION_TEMPLATES = (
    "a handwritten {word}",
    "the digit {numeral}",
    "a handwritten digit {word}",
    "the number {word}",
    "an image of the digit {numeral}",
    "a scanned handwritten {numeral}",
)

# Bump when images or captions change, so stale caches under `cache_dir` are not reused.
CACHE_VERSION = "v1"


def captions(digit: int) -> tuple[str, ...]:
    """Every paraphrase naming `digit` (0-9)."""
    if digit not in range(10):
        raise ValueError(f"digit must be in 0..9, got {digit}")
    return tuple(t.format(word=DIGIT_WORDS[digit], numeral=digit) for t in CAPTION_TEMPLATES)


def prompt(digit: int) -> str:
    """The canonical prompt for `digit`, e.g. prompt(7) == "a handwritten seven"."""
    return captions(digit)[0]


def load_digits(image_size: int = 32, cache_dir: str | None = None) -> CaptionedImages:
    """The 1797 scikit-learn digits as 1-channel `image_size` squares with paraphrase captions."""
    return load_digits_with_labels(image_size, cache_dir)[0]


def load_digits_with_labels(image_size: int = 32,
                            cache_dir: str | None = None) -> tuple[CaptionedImages, torch.Tensor]:
    """`load_digits` plus the (N,) int64 tensor of true digits, for classifiers and per-class metrics.

    With `cache_dir`, the built `datasets.Dataset` is saved under
    `cache_dir/digits-{image_size}px-{CACHE_VERSION}` and loaded from there on later calls.
    """
    name = f"digits-{image_size}px-{CACHE_VERSION}"
    dataset = cached_dataset(cache_dir, name, lambda: _build_dataset(image_size)) if cache_dir else _build_dataset(image_size)
    return from_hf(dataset), torch.tensor(dataset["label"], dtype=torch.int64)


def _build_dataset(image_size: int) -> datasets.Dataset:
    """Scale 0..16 to 0..255, resize, and attach captions and labels."""
    raw = sklearn.datasets.load_digits()
    pixels = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)
    # An 8x8 source is always upsampled: bilinear gives smooth strokes, where bicubic would ring
    # (dark halos clipped at 0 beside every stroke edge).
    images = [Image.fromarray(preprocess_image(Image.fromarray(p), image_size, 1, Image.Resampling.BILINEAR))
              for p in pixels]
    labels = [int(d) for d in raw.target]
    features = datasets.Features({
        "image": datasets.Image(),
        "captions": datasets.List(datasets.Value("string")),
        "label": datasets.ClassLabel(names=list(DIGIT_WORDS)),
    })
    return datasets.Dataset.from_dict(
        {"image": images, "captions": [list(captions(d)) for d in labels], "label": labels}, features=features)
