"""Reading one object (a blob of one palette colour) out of an image of coloured shapes on a plain
background; shared by the shapes reader (one object per image) and the compose reader (one to three).

The images come from a diffusion model trained on `data.raster`'s shapes, so an object is modelled as
background + coverage * (object colour - background) + noise, with the background and the object
colour estimated from the image itself (a model's black is rarely exactly 0, its red rarely exactly
255). From the object's coverage the reader takes sums and moments rather than counts of thresholded
pixels, which stay exact where a small object is only ~5 pixels across:

- height, width: the largest column and row sums of coverage, i.e. the object's extent in pixels,
  for all three shapes (the triangle's base and axis are both its box side);
- fill = height * width / area: 1 for a square, 4/pi = 1.27 for a circle, 2 for a triangle;
- skew, the skewness of the coverage's vertical profile: -2*sqrt(2)/5 = -0.57 for an apex-up
  triangle (its mass sits low), 0 for the symmetric circle and square.

A blob of mixed colours, a washed-out or off-palette colour, or an elongated, oversized or shapeless
blob reads as None, so garbage is never credited.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from data.raster import COLOURS

FOREGROUND_RISE = 80  # a pixel whose brightest channel rises this far (of 255) above background is object
MIN_PIXELS = 3
MAX_STRAY = 0.1  # off-colour pixels (and, for shapes, other blobs) as a fraction of the object
OFF_COLOUR = 0.35  # distance from the background-to-colour line, as a fraction of that line's length
MAX_COLOUR_DISTANCE = 110.0  # under half the smallest distance (255) between palette colours: rejects
# washed-out objects and in-between colours such as orange
TRIANGLE_SKEW = -0.28  # halfway between a triangle's -0.57 and 0
# Between a square's 1 and a circle's 1.27, nearer the square: pixelation pulls a 5-pixel circle down
# to 1.21, and noise pulls circles down and squares up (the extents are maxima of noisy sums).
SQUARE_MAX_FILL = 1.10
MAX_FILL = 2.6
MAX_ASPECT = 1.4
EXTENT_RANGE = (0.1, 0.6)  # extent / canvas; box sides span 0.198-0.44, a small triangle reads ~0.16

_PALETTE_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in _PALETTE_NAMES], dtype=np.float64)
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def as_hwc(image) -> np.ndarray:
    """(H, W, 3) float64 from a uint8 tensor or array laid out (3, H, W) or (H, W, 3)."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected a uint8 (3, H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
    if image.shape[-1] != 3:
        if image.shape[0] != 3:
            raise ValueError(f"expected 3 channels first or last, got shape {image.shape}")
        image = image.transpose(1, 2, 0)
    return image.astype(np.float64)


def foreground(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(background (3,), offset (H, W, 3), rise (H, W), labels (H, W) int) of an (H, W, 3) image.

    The background is the per-channel median (objects cover well under half the canvas); offset is
    the image minus it, rise the largest channel of the offset, and labels number the 8-connected
    blobs of foreground pixels 1, 2, ... (0 is background).
    """
    background = np.median(image.reshape(-1, 3), axis=0)
    offset = image - background
    rise = offset.max(axis=2)
    labels, _ = ndimage.label(rise > FOREGROUND_RISE, structure=EIGHT_NEIGHBOURS)
    return background, offset, rise, labels


def blob_coverage(background: np.ndarray, offset: np.ndarray, rise: np.ndarray, blob: np.ndarray,
                  near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(coverage (H, W), object colour (3,)) of the object under the (H, W) bool `blob`, or None.

    The object colour is the median of the blob's brightest quarter, which lies inside the anti-aliased
    rim even for a 5-pixel object (a median over more of the blob lets rim pixels darken the colour and
    so inflate every coverage). Coverage is the least-squares fit of each pixel to background +
    c * (colour - background), kept to `near` (default: within one pixel of the blob) so that noise and
    other objects elsewhere do not add up; blob pixels far off that line mean several colours, not one
    object.
    """
    direction = np.median(offset[blob & (rise >= np.percentile(rise[blob], 75))], axis=0)
    coverage = offset @ direction / (direction @ direction)
    residual = np.linalg.norm(offset - coverage[..., None] * direction, axis=2)
    if (residual[blob] > OFF_COLOUR * np.linalg.norm(direction)).sum() > MAX_STRAY * blob.sum():
        return None
    if near is None:
        near = ndimage.binary_dilation(blob, structure=EIGHT_NEIGHBOURS)
    return np.where(near, coverage, 0.0), background + direction


def palette_colour(colour: np.ndarray) -> str | None:
    """The nearest palette colour's name, or None when the colour is far from all of them."""
    distances = np.linalg.norm(_PALETTE - colour, axis=1)
    return _PALETTE_NAMES[int(distances.argmin())] if distances.min() <= MAX_COLOUR_DISTANCE else None


def shape_of(coverage: np.ndarray) -> str | None:
    """"circle", "square" or "triangle" from the fill and the vertical skew (see the module
    docstring); None for a blob that is elongated, oversized or fits no shape."""
    area = coverage.sum()
    height, width = coverage.sum(axis=0).max(), coverage.sum(axis=1).max()
    extent = max(height / coverage.shape[0], width / coverage.shape[1])
    elongated = max(height, width) > MAX_ASPECT * min(height, width)
    if area <= 0 or elongated or not EXTENT_RANGE[0] <= extent <= EXTENT_RANGE[1]:
        return None
    fill = height * width / area
    if fill > MAX_FILL:
        return None
    rows = coverage.sum(axis=1)
    y = np.arange(len(rows)) + 0.5
    mean = (rows * y).sum() / area
    variance = (rows * (y - mean) ** 2).sum() / area
    skew = (rows * (y - mean) ** 3).sum() / area / variance**1.5
    if skew < TRIANGLE_SKEW:
        return "triangle"
    return "square" if fill < SQUARE_MAX_FILL else "circle"


def half_covered_box(coverage: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) as fractions of the canvas: the box spanned by the pixels at least half covered."""
    rows, cols = np.nonzero(coverage >= 0.5)
    if len(rows) == 0:
        return None
    height, width = coverage.shape
    return cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height
