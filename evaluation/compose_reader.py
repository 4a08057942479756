"""Reads every object of a "compose" image back: its colour, shape and box.

Each 8-connected blob of foreground is one object, read by `evaluation.blob_reader` (the shapes
reader's per-object reading), its coverage kept to the pixels around it that no other blob owns.
Blobs under MIN_PIXELS are specks of noise and ignored; any larger blob counts as an object, and one
that does not read as a palette colour or as a shape keeps None there, so that a smudge spoils a
count rather than vanish from it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from evaluation.blob_reader import (EIGHT_NEIGHBOURS, MIN_PIXELS, as_hwc, blob_coverage, foreground, half_covered_box,
                                    palette_colour, shape_of)


def _read_blob(background, offset, rise, labels, blob) -> dict:
    """{"colour", "shape", "box", "centre"} of one blob; colour and shape None where unreadable."""
    near = ndimage.binary_dilation(blob, structure=EIGHT_NEIGHBOURS) & ((labels == 0) | blob)
    found = blob_coverage(background, offset, rise, blob, near)
    coverage = found[0] if found is not None else blob.astype(np.float64)
    box = half_covered_box(coverage) or half_covered_box(blob.astype(np.float64))
    return {
        "colour": None if found is None else palette_colour(found[1]),
        "shape": None if found is None else shape_of(coverage),
        "box": box,
        "centre": ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
    }


def read_objects(image) -> list[dict]:
    """Every object of a uint8 (3, H, W) or (H, W, 3) image as {"colour", "shape", "box", "centre"},
    left to right; box is (x0, y0, x1, y1) and centre (x, y), as fractions of the canvas (y down)."""
    background, offset, rise, labels = foreground(as_hwc(image))
    objects = []
    for label in range(1, labels.max() + 1):
        blob = labels == label
        if blob.sum() >= MIN_PIXELS:
            objects.append(_read_blob(background, offset, rise, labels, blob))
    return sorted(objects, key=lambda o: o["centre"])
