"""Shapes evaluation: generate every (colour, shape, size, position) prompt, read each image back, score.

Reported separately for held-in (colour, shape) pairs, seen in training, and held-out pairs, never seen
(compositional generalisation). An image counts as correct only if all four attributes read right and
its background is black as in the data (a coloured or noisy background fails, even under a readable
shape). `evaluation.shapes_reader` scores 100% on real dataset images, so 1.0 is the ceiling.
"""
from __future__ import annotations

from typing import Callable

import torch

from data.shapes import DEFAULT_HELD_OUT, combinations, prompt
from evaluation.shapes_reader import judge, read_shape, score

BLACK = 32  # a background is black when every channel's median is below this (of 255)


def black_background(image: torch.Tensor) -> bool:
    """(C, H, W) uint8: the median of each channel (the object covers at most a fifth of the canvas)."""
    return bool(image.flatten(1).median(dim=1).values.max() < BLACK)


def score_images(images: torch.Tensor, targets: list[dict]) -> dict[str, float]:
    """Per-attribute accuracy, black-background rate, and `all`: every attribute right on a black background."""
    results = score(images, targets)
    black = [black_background(image) for image in images]
    strict = [b and all(judge(image, target).values()) for image, target, b in zip(images, targets, black)]
    results["black_background"] = sum(black) / max(1, len(targets))
    results["all"] = sum(strict) / max(1, len(targets))
    return results


def evaluate_shapes(generate: Callable[[list[str]], torch.Tensor], held_out=DEFAULT_HELD_OUT,
                    samples_per_prompt: int = 1, max_prompts: int | None = None) -> dict[str, float]:
    """generate(prompts) -> (N, 3, H, W) uint8. Returns {"held_in/all": ..., "held_out/colour": ..., ...}.

    Prompts are "a {size} {colour} {shape} in the {position}"; max_prompts takes an evenly spaced subset of
    each split (for cheap in-training evaluation), so every attribute value still appears.
    """
    results = {}
    for split, combos in zip(("held_in", "held_out"), combinations(held_out)):
        if max_prompts is not None and len(combos) > max_prompts:
            step = len(combos) / max_prompts
            combos = [combos[int(i * step)] for i in range(max_prompts)]
        targets = [c for c in combos for _ in range(samples_per_prompt)]
        if not targets:
            continue
        images = generate([prompt(**c) for c in targets])
        results.update({f"{split}/{k}": v for k, v in score_images(images, targets).items()})
        results[f"{split}/count"] = len(targets)
        results[f"{split}/misses"] = misses(images, targets)
    return results


def misses(images: torch.Tensor, targets: list[dict]) -> list[str]:
    """One line per image that does not count as correct: its prompt and what was read back, e.g.
    "a small blue triangle in the left -> unreadable" or "... -> green circle small top left"."""
    lines = []
    for image, target in zip(images, targets):
        if black_background(image) and all(judge(image, target).values()):
            continue
        reading = read_shape(image)
        read = "unreadable" if reading is None else " ".join(reading[k] for k in ("colour", "shape", "size", "position"))
        lines.append(f"{prompt(**target)} -> {read}" + ("" if black_background(image) else " (background not black)"))
    return lines
