"""The palette, the shapes and the anti-aliased rasteriser shared by the generated datasets (shapes, compose).

Geometry, in pixel units on a canvas [0, n] x [0, n] (pixel (i, j) covers [j, j+1] x [i, i+1]): every
shape fills a square box of side `side` centred at (cx, cy). The circle is inscribed in the box, the
square is the box, the triangle is isosceles with its apex at the top-centre of the box and its base on
the bottom edge. Pixels hold the colour times their exact-to-1/64 coverage (8x8 supersampling), so
edges are anti-aliased and the object's interior is the exact palette colour.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SUPERSAMPLE = 8


def check(kind: str, value, choices) -> None:
    """Fail early, in one line, naming the bad value and the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(map(str, choices))}")


def validate_held_out(held_out) -> tuple[tuple[str, str], ...]:
    """Held-out (colour, shape) bindings, sorted and deduplicated, from any sequence of 2-sequences
    (Hydra passes lists of lists)."""
    pairs = []
    for pair in held_out:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"held_out entries must be (colour, shape) pairs, got {pair!r}")
        colour, shape = pair
        check("colour", colour, COLOURS)
        check("shape", shape, SHAPES)
        pairs.append((colour, shape))
    return tuple(sorted(set(pairs)))


def _inside(shape: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """Whether points (x, y), broadcast together, lie in the shape filling the box."""
    half = side / 2
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= half**2
    if shape == "square":
        return (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    # Triangle: at depth d below the apex (cy - half) its width is d, since height and base are both `side`.
    depth = y - (cy - half)
    return (depth <= side) & (np.abs(x - cx) <= depth / 2)


def rasterise(colour: str, shape: str, cx: float, cy: float, side: float, image_size: int) -> np.ndarray:
    """(H, W, 3) uint8 image of the shape, each pixel the colour times its coverage.

    Coverage is the fraction of the pixel's 8x8 sub-pixel centres inside the shape; only the pixels
    under the box are sampled, which keeps a 32x32 image at ~10^4 point tests.
    """
    check("colour", colour, COLOURS)
    check("shape", shape, SHAPES)
    half = side / 2
    x0, y0 = max(int(np.floor(cx - half)), 0), max(int(np.floor(cy - half)), 0)
    x1, y1 = min(int(np.ceil(cx + half)), image_size), min(int(np.ceil(cy + half)), image_size)
    image = np.zeros((image_size, image_size, 3), dtype=np.uint8)
    if x1 <= x0 or y1 <= y0:
        return image
    xs = x0 + (np.arange((x1 - x0) * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    ys = y0 + (np.arange((y1 - y0) * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    hits = _inside(shape, xs[None, :], ys[:, None], cx, cy, side)
    coverage = hits.reshape(y1 - y0, SUPERSAMPLE, x1 - x0, SUPERSAMPLE).mean(axis=(1, 3))
    image[y0:y1, x0:x1] = np.rint(coverage[..., None] * np.array(COLOURS[colour])).astype(np.uint8)
    return image
