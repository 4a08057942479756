"""The generated "shapes" dataset: one coloured shape on a black canvas, captioned by its attributes.

Every image shows one object with four attributes, each named in every caption (but the partial ones, if asked for):
colour (6 pure RGB colours), shape (circle, square, triangle), size (small, large) and position (a 3x3
grid). A few (colour, shape) pairs are held out of training, so a model can be asked for combinations
it has never seen (compositional generalisation); `evaluation.shapes_reader` reads generated images
back and scores them against the prompt.

Colours, shapes and the anti-aliased rasteriser are `data.raster`'s, shared with the compose dataset.
"""
from __future__ import annotations

import datasets
import numpy as np
import torch

from data.cache import cache_name, load_or_generate
from data.captioned import CaptionedImages, from_hf
from data.raster import COLOURS, SHAPES, check as _check, rasterise, validate_held_out as _validate_held_out

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
# Captions that leave the colour or the shape out, so that each word must carry its attribute alone (attribute
# dropout); `load_shapes(partial_captions=True)` adds them to every image's captions.
PARTIAL_TEMPLATES: tuple[str, ...] = (
    "a {size} {shape} in the {position}",          # colour left out
    "a {size} {colour} shape in the {position}",   # shape left out
)
DEFAULT_HELD_OUT: tuple[tuple[str, str], ...] = (("blue", "triangle"), ("yellow", "circle"), ("green", "square"))

CENTRE_JITTER = 0.04
SIDE_JITTER = 0.10
# Bumped whenever rendering or sampling changes, so stale caches are never reused.
_FORMAT_VERSION = 1


def prompt(colour: str, shape: str, size: str, position: str) -> str:
    """The canonical caption, `TEMPLATES[0]`; evaluation prompts the model with it."""
    return TEMPLATES[0].format(colour=colour, shape=shape, size=size, position=position)


def captions(colour: str, shape: str, size: str, position: str, templates: tuple[str, ...] = TEMPLATES) -> list[str]:
    """Every template filled with the attributes; training draws one per visit."""
    return [t.format(colour=colour, shape=shape, size=size, position=position) for t in templates]


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


def render(colour: str, shape: str, size: str, position: str, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 image of one jittered object; see `jittered_box` and `rasterise`."""
    cx, cy, side = jittered_box(size, position, image_size, rng)
    return rasterise(colour, shape, cx, cy, side, image_size)


def render_batch(attrs: list[dict], image_size: int, seed: int) -> torch.Tensor:
    """(N, 3, H, W) float in [-1, 1]: one freshly jittered `render` per attribute dict, jitter from `seed`."""
    rng = np.random.default_rng(seed)
    arrays = np.stack([render(**a, image_size=image_size, rng=rng) for a in attrs])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(127.5).sub(1)


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


def shapes_dataset(num_images: int = 20000, image_size: int = 32, seed: int = 0,
                   held_out=DEFAULT_HELD_OUT, cache_dir: str | None = None) -> datasets.Dataset:
    """The `datasets.Dataset` (columns image, captions, colour, shape, size, position), generated
    or, when `cache_dir` is given and holds it, loaded from disk.

    See `data.cache.load_or_generate` for the caching.
    """
    held_out = _validate_held_out(held_out)
    name = cache_name("shapes", f"n{num_images}_px{image_size}_seed{seed}", [num_images, image_size, seed, held_out, _FORMAT_VERSION])
    return load_or_generate(cache_dir, name, lambda: _generate(num_images, image_size, seed, held_out))


def load_shapes_with_attributes(num_images: int = 40000, image_size: int = 32, seed: int = 0,
                                held_out=DEFAULT_HELD_OUT, cache_dir: str | None = None,
                                partial_captions: bool = False) -> tuple[CaptionedImages, list[dict]]:
    """`load_shapes` plus each image's ground truth {colour, shape, size, position}, in row order."""
    dataset = shapes_dataset(num_images, image_size, seed, held_out, cache_dir)
    attributes = [dict(zip(("colour", "shape", "size", "position"), values))
                  for values in zip(dataset["colour"], dataset["shape"], dataset["size"], dataset["position"])]
    data = from_hf(dataset)
    if partial_captions:
        data.captions = [caps + tuple(captions(**a, templates=PARTIAL_TEMPLATES))
                         for caps, a in zip(data.captions, attributes)]
    return data, attributes


def load_shapes(num_images: int = 40000, image_size: int = 32, seed: int = 0,
                held_out=DEFAULT_HELD_OUT, cache_dir: str | None = None,
                partial_captions: bool = False) -> CaptionedImages:
    """`num_images` shape images with all their captions, a deterministic function of the arguments;
    held-out (colour, shape) pairs never appear. See `shapes_dataset` for the caching.

    partial_captions: also draw, 2 times in 7, a caption that leaves the colour or the shape out.
    """
    return load_shapes_with_attributes(num_images, image_size, seed, held_out, cache_dir, partial_captions)[0]
