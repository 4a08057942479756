"""Reads colour, shape, size and position back from a "shapes" image, and scores generated images.

The object's colour, coverage and shape are read by `evaluation.blob_reader` (shared with the compose
reader; its docstring gives the image model and the shape statistics). On top of it this module reads:

- the box side from the area, given the shape (side^2, pi/4 side^2, side^2 / 2): a sum over the
  whole object, so exact on clean images and averaging noise away on generated ones (the extents
  fall short of a triangle's side by up to a pixel at its apex and base corners);
- the position from the centre of the box spanned by the pixels at least half covered.

Images that do not look like one object of one palette colour on a plain background (nothing there,
several blobs, a blob of mixed colours, a washed-out or off-palette colour, an elongated, oversized or
shapeless blob) read as None, so garbage is never credited.
"""
from __future__ import annotations

import numpy as np

from data.shapes import POSITIONS, SIZES
from evaluation.blob_reader import (MAX_STRAY, MIN_PIXELS, as_hwc, blob_coverage, foreground, half_covered_box,
                                    palette_colour, shape_of)

ATTRIBUTES = ("colour", "shape", "size", "position")

SIZE_BOUNDARY = sum(SIZES.values()) / len(SIZES)  # 0.31, midway between small and large
AREA_PER_SIDE_SQUARED = {"square": 1.0, "circle": np.pi / 4, "triangle": 0.5}


def _largest_blob(labels: np.ndarray) -> np.ndarray | None:
    """(H, W) bool mask of the largest blob, or None if there is no blob or the foreground is not
    essentially one blob."""
    sizes = np.bincount(labels.ravel())[1:]
    if len(sizes) == 0:
        return None
    largest = sizes.max()
    if largest < MIN_PIXELS or sizes.sum() - largest >= max(MIN_PIXELS, MAX_STRAY * largest):
        return None
    return labels == 1 + sizes.argmax()


def _find_object(image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(coverage (H, W), object colour (3,)) of the one object in an (H, W, 3) image, or None."""
    background, offset, rise, labels = foreground(image)
    blob = _largest_blob(labels)
    return None if blob is None else blob_coverage(background, offset, rise, blob)


def _size(coverage: np.ndarray, shape: str) -> str:
    """"small" or "large": the box side implied by the area, as a fraction of the canvas side."""
    side = np.sqrt(coverage.sum() / AREA_PER_SIDE_SQUARED[shape] / coverage.size)
    return "small" if side < SIZE_BOUNDARY else "large"


def _position(coverage: np.ndarray) -> str | None:
    """The grid cell nearest the centre of the box spanned by the pixels at least half covered."""
    box = half_covered_box(coverage)
    if box is None:
        return None
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return min(POSITIONS, key=lambda name: (POSITIONS[name][0] - x) ** 2 + (POSITIONS[name][1] - y) ** 2)


def read_shape(image) -> dict | None:
    """{"colour", "shape", "size", "position"} read from a uint8 (3, H, W) or (H, W, 3) image, in
    the vocabulary of `data.shapes`; None when the image does not hold one readable object."""
    found = _find_object(as_hwc(image))
    if found is None:
        return None
    coverage, colour = found
    name, shape, position = palette_colour(colour), shape_of(coverage), _position(coverage)
    if name is None or shape is None or position is None:
        return None
    return {
        "colour": name,
        "shape": shape,
        "size": _size(coverage, shape),
        "position": position,
    }


def score(images, targets: list[dict]) -> dict[str, float]:
    """Fraction of images whose reading matches the target, per attribute and for "all" four at once.

    images: (N, 3, H, W) or (N, H, W, 3) uint8, or a sequence of single images; targets: N dicts with
    the keys of `ATTRIBUTES`. An unreadable image counts as wrong on every attribute.
    """
    if len(images) != len(targets):
        raise ValueError(f"{len(images)} images but {len(targets)} targets")
    hits = dict.fromkeys((*ATTRIBUTES, "all"), 0)
    for image, target in zip(images, targets):
        correct = judge(image, target)
        for key in ATTRIBUTES:
            hits[key] += correct[key]
        hits["all"] += all(correct.values())
    return {key: count / max(len(targets), 1) for key, count in hits.items()}


def judge(image, target: dict) -> dict[str, bool]:
    """Which of the four attributes read as the target says (all False for an unreadable image)."""
    reading = read_shape(image) or {}
    return {key: reading.get(key) == target[key] for key in ATTRIBUTES}
