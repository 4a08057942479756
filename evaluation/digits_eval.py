"""Digits evaluation: a classifier trained on the real digits judges samples conditioned on each digit,
and a Fréchet distance on that classifier's features compares samples with real digits.

The FID is printed beside the real-vs-real FID at the same sample count (two disjoint draws of real
digits), which is the floor that count allows: FID is biased upwards at small counts.
"""
from __future__ import annotations

from typing import Callable

import torch

from data.digits import load_digits_with_labels, prompt
from evaluation.digits_classifier import load_or_train_classifier
from evaluation.fid import frechet_distance


def evaluate_digits(generate: Callable[[list[str]], torch.Tensor], image_size: int, cache_dir: str | None,
                    num_samples: int = 500, seed: int = 0) -> dict[str, float]:
    """generate(prompts) -> (N, 1, H, W) uint8. num_samples prompts cycle through the ten digits."""
    classifier = load_or_train_classifier(image_size, cache_dir)
    labels = torch.arange(num_samples) % 10
    images = generate([prompt(int(d)) for d in labels])
    predicted = classifier.predict(images)
    results = {"accuracy": (predicted == labels).float().mean().item()}
    for d in range(10):
        results[f"accuracy/{d}"] = (predicted[labels == d] == d).float().mean().item()
    real, _ = load_digits_with_labels(image_size, cache_dir)
    n = min(num_samples, len(real) // 2)
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    real_a, real_b = real.images[order[:n]], real.images[order[n : 2 * n]]
    features_a = classifier.features(real_a)
    results["fid"] = frechet_distance(classifier.features(images[:n]), features_a)
    results["fid_real_vs_real"] = frechet_distance(classifier.features(real_b), features_a)
    results["fid_count"] = n
    results["classifier_held_out_accuracy"] = classifier.held_out_accuracy
    return results
