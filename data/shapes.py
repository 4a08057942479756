"""The generated "shapes" dataset: one coloured shape on a black canvas, captioned by its attributes.

Every image shows one object with four attributes, each named in every caption:
colour (6 pure RGB colours), shape (circle, square, triangle), size (small, large) and position (a 3x3
grid). A few (colour, shape) pairs are held out of training, so a model can be asked for combinations
it has never seen (compositional generalisation); `evaluation.shapes_reader` reads generated images
back and scores them against the prompt.

Geometry, in pixel units on a canvas [0, n] x [0, n] (pixel (i, j) covers [j, j+1] x [i, i+1]): every
shape fills a square box of side `side` centred at (cx, cy). The circle is inscribed in the box, the
square is the box, the triangle is isosceles with its apex at the top-centre of the box and its base on
the bottom edge. Pixels hold the colour times their exact-to-1/64 coverage (8x8 supersampling), so
edges are anti-aliased and the object's interior is the exact palette colour.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence

import datasets
import numpy as np

from data.captioned import CaptionedImages, from_hf

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SIZES: dict[str, float] = {"small": 0.22, "large": 0.40}
POSITIONS: dict[str, tuple[float, float]] = {
    "top left": (0.25, 0.25), "top": (0.5, 0.25), "top right": (0.75, 0.25),
    "left": (0.25, 0.5), "center": (0.5, 0.5), "right": (0.75, 0.5),
    "bottom left": (0.25, 0.75), "bottom": (0.5, 0.75), "bottom right": (0.75, 0.75),
}
TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} in the {position}",
    "a {colour} {shape}, {size}, in the {position}",
    "{position}: a {size} {colour} {shape}",
    "there is a {size} {colour} {shape} in the {position} of the image",
    "a {size} {shape} in {colour}, placed in the {position}",
)
DEFAULT_HELD_OUT: tuple[tuple[str, str], ...] = (("blue", "triangle"), ("yellow", "circle"), ("green", "square"))

CENTRE_JITTER = 0.04
SIDE_JITTER = 0.10
SUPERSAMPLE = 8
# Bumped whenever rendering or sampling changes, so stale caches are never reused.
_FORMAT_VERSION = 1


def _check(kind: str, value, choices) -> None:
    """Fail early, in one line, naming the bad value and the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(choices)}")


def prompt(colour: str, shape: str, size: str, position: str) -> str:
    """The canonical caption, `TEMPLATES[0]`; evaluation prompts the model with it."""
    return TEMPLATES[0].format(colour=colour, shape=shape, size=size, position=position)


def captions(colour: str, shape: str, size: str, position: str) -> list[str]:
    """Every template filled with the attributes; training draws one per visit."""
    return [t.format(colour=colour, shape=shape, size=size, position=position) for t in TEMPLATES]


def jittered_box(size: str, position: str, image_size: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """(cx, cy, side) in pixels: the grid cell's centre moved by up to +-0.04 of the canvas on each
    axis and the nominal side scaled by up to +-10%, all uniform. Draws exactly three numbers.

    A large box at an edge cell can overhang the canvas by up to 0.01 of it; the overhang is clipped.
    """
    _check("size", size, SIZES)
    _check("position", position, POSITIONS)
    dx, dy = rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, size=2)
    scale = rng.uniform(1 - SIDE_JITTER, 1 + SIDE_JITTER)
    x, y = POSITIONS[position]
    return (x + dx) * image_size, (y + dy) * image_size, SIZES[size] * scale * image_size


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
    _check("colour", colour, COLOURS)
    _check("shape", shape, SHAPES)
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


def render(colour: str, shape: str, size: str, position: str, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 image of one jittered object; see `jittered_box` and `rasterise`."""
    cx, cy, side = jittered_box(size, position, image_size, rng)
    return rasterise(colour, shape, cx, cy, side, image_size)


def _validate_held_out(held_out) -> tuple[tuple[str, str], ...]:
    """Normalise any sequence of (colour, shape) 2-sequences (Hydra passes lists of lists)."""
    pairs = []
    for pair in held_out:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"held_out entries must be (colour, shape) pairs, got {pair!r}")
        colour, shape = pair
        _check("colour", colour, COLOURS)
        _check("shape", shape, SHAPES)
        pairs.append((colour, shape))
    return tuple(sorted(set(pairs)))


def combinations(held_out=DEFAULT_HELD_OUT) -> tuple[list[dict], list[dict]]:
    """All attribute dicts {colour, shape, size, position}, split into (held_in, held_out) by whether
    their (colour, shape) pair is held out. Order is stable: colours, shapes, sizes, positions."""
    pairs = set(_validate_held_out(held_out))
    held_in, out = [], []
    for colour in COLOURS:
        for shape in SHAPES:
            for size in SIZES:
                for position in POSITIONS:
                    attrs = {"colour": colour, "shape": shape, "size": size, "position": position}
                    (out if (colour, shape) in pairs else held_in).append(attrs)
    return held_in, out


def _generate(num_images: int, image_size: int, seed: int, held_out) -> datasets.Dataset:
    """Draw attributes uniformly over the held-in combinations, then render each image, all from
    one Generator seeded with `seed`, so the dataset is a pure function of its arguments."""
    held_in, _ = combinations(held_out)
    if not held_in:
        raise ValueError("held_out removes every (colour, shape) pair; nothing left to train on")
    rng = np.random.default_rng(seed)
    rows = [held_in[i] for i in rng.integers(len(held_in), size=num_images)]
    columns = {key: [row[key] for row in rows] for key in ("colour", "shape", "size", "position")}
    columns["image"] = np.stack([render(**row, image_size=image_size, rng=rng) for row in rows])
    columns["captions"] = [captions(**row) for row in rows]
    features = datasets.Features({
        "image": datasets.Array3D((image_size, image_size, 3), "uint8"),
        "captions": datasets.Sequence(datasets.Value("string")),
        **{key: datasets.Value("string") for key in ("colour", "shape", "size", "position")},
    })
    return datasets.Dataset.from_dict(columns, features=features)


def _cache_name(num_images: int, image_size: int, seed: int, held_out: tuple) -> str:
    """Folder name: the main parameters readable, plus a hash of all of them and the format version."""
    params = json.dumps([num_images, image_size, seed, held_out, _FORMAT_VERSION])
    digest = hashlib.sha1(params.encode()).hexdigest()[:10]
    return f"shapes_n{num_images}_px{image_size}_seed{seed}_{digest}"


def shapes_dataset(num_images: int = 20000, image_size: int = 32, seed: int = 0,
                   held_out=DEFAULT_HELD_OUT, cache_dir: str | None = None) -> datasets.Dataset:
    """The `datasets.Dataset` (columns image, captions, colour, shape, size, position), generated
    or, when `cache_dir` is given and holds it, loaded from disk.

    The cache is written to a temporary folder and renamed into place, so an interrupted or
    concurrent run never leaves a half-written folder that a later call would trust.
    """
    held_out = _validate_held_out(held_out)
    if cache_dir is None:
        return _generate(num_images, image_size, seed, held_out)
    path = os.path.join(cache_dir, _cache_name(num_images, image_size, seed, held_out))
    if os.path.isdir(path):
        return datasets.load_from_disk(path)
    dataset = _generate(num_images, image_size, seed, held_out)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_", dir=cache_dir)
    dataset.save_to_disk(tmp)
    try:
        os.rename(tmp, path)
    except OSError:  # another process finished the same folder first; theirs is identical
        shutil.rmtree(tmp)
    return dataset


def load_shapes_with_attributes(num_images: int = 20000, image_size: int = 32, seed: int = 0,
                                held_out=DEFAULT_HELD_OUT,
                                cache_dir: str | None = None) -> tuple[CaptionedImages, list[dict]]:
    """`load_shapes` plus each image's ground truth {colour, shape, size, position}, in row order."""
    dataset = shapes_dataset(num_images, image_size, seed, held_out, cache_dir)
    attributes = [dict(zip(("colour", "shape", "size", "position"), values))
                  for values in zip(dataset["colour"], dataset["shape"], dataset["size"], dataset["position"])]
    return from_hf(dataset), attributes


def load_shapes(num_images: int = 20000, image_size: int = 32, seed: int = 0,
                held_out=DEFAULT_HELD_OUT, cache_dir: str | None = None) -> CaptionedImages:
    """`num_images` shape images with all their captions, a deterministic function of the arguments;
    held-out (colour, shape) pairs never appear. See `shapes_dataset` for the caching."""
    return load_shapes_with_attributes(num_images, image_size, seed, held_out, cache_dir)[0]
