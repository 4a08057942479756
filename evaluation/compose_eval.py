"""Compose evaluation: prompt every category's canonical captions, read every object back, score.

A sample is correct when its background is black, as in the data, and (GenEval's rules, on exactly
the objects the caption names: an extra object fails every category):

- two_objects: exactly two objects, whose shapes are the two named shapes (colour not checked);
- colour_attribution: exactly two objects, each named shape in its named colour;
- position: exactly two objects, the named ones, and the first stands in the named relation to the
  second: its offset along the relation's direction exceeds the orthogonal offset;
- counting: exactly n objects, all of the named colour and shape.

Each category is scored on held-in and held-out prompts (scenes with a held-out colour-shape binding),
`<split>/all` is the mean over the four categories (GenEval's overall score), and `overall` the mean
of both splits'. Every (category, split) gets the same number of images, evenly spaced over its
scenes (and cycled, with fresh noise, where it has fewer), so each category weighs the same.
Real dataset images score 1.0 (tested), so 1.0 is the ceiling.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import torch

from data.compose import relation_offsets
from data.compose_scenes import CATEGORIES, DEFAULT_HELD_OUT, Scene, prompt, split_scenes
from evaluation.compose_reader import read_objects
from evaluation.shapes_eval import black_background

SPLITS = ("held_in", "held_out")
PROMPTS_PER_SPLIT = 24  # images per (category, split) in the full evaluation: 192 in all


def judge(scene: Scene, objects: list[dict]) -> bool:
    """Whether objects read by `read_objects` show the scene, by its category's rule (module docstring)."""
    if len(objects) != len(scene.objects):
        return False
    read = Counter((o["colour"], o["shape"]) for o in objects)
    if scene.category == "two_objects":
        return Counter(o["shape"] for o in objects) == Counter(shape for _, shape in scene.objects)
    if read != Counter(scene.objects):
        return False
    if scene.category == "position":
        first = next(o for o in objects if (o["colour"], o["shape"]) == scene.objects[0])
        second = next(o for o in objects if (o["colour"], o["shape"]) == scene.objects[1])
        along, across = relation_offsets(scene.relation, first["centre"], second["centre"])
        return bool(along > across)
    return True


def evaluation_scenes(held_out=DEFAULT_HELD_OUT, per_split: int = PROMPTS_PER_SPLIT) -> list[tuple[str, Scene]]:
    """(split, scene) pairs: `per_split` evenly spaced scenes of each category and split, cycled when fewer."""
    chosen = []
    for category in CATEGORIES:
        for split, scenes in zip(SPLITS, split_scenes(category, held_out)):
            if scenes:
                step = max(len(scenes) / per_split, 1)
                chosen += [(split, scenes[int(i * step) % len(scenes)]) for i in range(per_split)]
    return chosen


def evaluate_compose(generate: Callable[[list[str]], torch.Tensor], held_out=DEFAULT_HELD_OUT,
                     per_split: int = PROMPTS_PER_SPLIT) -> dict[str, float]:
    """generate(prompts) -> (N, 3, H, W) uint8. Returns {"held_in/position": ..., "held_out/all": ...,
    "overall": ..., "held_in/black_background": ..., "held_in/count": ...}."""
    chosen = evaluation_scenes(held_out, per_split)
    images = generate([prompt(scene) for _, scene in chosen])
    hits, black, totals = Counter(), Counter(), Counter()
    for (split, scene), image in zip(chosen, images):
        is_black = black_background(image)
        hits[f"{split}/{scene.category}"] += is_black and judge(scene, read_objects(image))
        black[split] += is_black
        totals[split] += 1
    results = {key: count / per_split for key, count in sorted(hits.items())}
    for split in SPLITS:
        if totals[split]:
            results[f"{split}/all"] = sum(results[f"{split}/{c}"] for c in CATEGORIES) / len(CATEGORIES)
            results[f"{split}/black_background"] = black[split] / totals[split]
            results[f"{split}/count"] = totals[split]
    results["overall"] = sum(results[f"{s}/all"] for s in SPLITS if totals[s]) / sum(1 for s in SPLITS if totals[s])
    return results
