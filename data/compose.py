"""The generated "compose" dataset: one to three coloured shapes on a black canvas, a compositional
benchmark in the manner of GenEval (two objects, colour attribution, relative position, counting).

The categories, captions and held-out bindings are in `data.compose_scenes`; `evaluation.compose_eval`
reads every object back and scores each category. Objects are drawn with `data.raster` (the shapes
dataset's palette and anti-aliased rasteriser), never overlapping and never touching.

Image size: 32x32, as for shapes. Every object is a box of side 0.25 of the canvas (+-10%), i.e. 7-9
pixels, above the ~5 pixels at which the blob reader still tells circle, square and triangle apart;
three such objects with 2.5-pixel gaps fit in 32 pixels with room to move, and the U-Net's two
downsamplings leave each object about two cells of the 8x8 attention grid, so relative position is
visible to attention. A larger canvas would not make objects more legible to the reader but would
cost the training run its area (48 pixels: 2.25x per step) in a fixed CPU budget.

Layout, in canvas fractions: sides are drawn first, then centres uniformly with every box at least
MARGIN inside the canvas, redrawn until every pair of boxes is GAP apart along some axis. A position
scene also needs the pair's offset along the relation's axis to exceed the orthogonal offset twice
over, so the relation the caption names is the only one its layout shows.
"""
from __future__ import annotations

import json

import datasets
import numpy as np

from data.cache import cache_name, load_or_generate
from data.captioned import CaptionedImages, from_hf
from data.compose_scenes import CATEGORIES, DEFAULT_HELD_OUT, Scene, captions, split_scenes
from data.raster import rasterise, validate_held_out

SIDE = 0.25
SIDE_JITTER = 0.10
GAP = 0.08
MARGIN = 0.02
MAX_TRIES = 10_000
# Relation axis offset / orthogonal offset, at least: "left of" scenes never look like "above".
RELATION_DOMINANCE = 2.0
_FORMAT_VERSION = 1


def relation_offsets(relation: str, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """(offset along the relation's direction, absolute orthogonal offset) from centre a to centre b
    (x right, y down); `a relation b` holds when the first exceeds the second."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    along = {"left of": dx, "right of": -dx, "above": dy, "below": -dy}[relation]
    return along, abs(dy) if relation in ("left of", "right of") else abs(dx)


def _apart(a, b) -> bool:
    """Whether boxes (cx, cy, side) are at least GAP apart along x or y."""
    need = (a[2] + b[2]) / 2 + GAP
    return abs(a[0] - b[0]) >= need or abs(a[1] - b[1]) >= need


def layout(scene: Scene, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(cx, cy, side) in canvas fractions, one per object of the scene, in its order."""
    sides = rng.uniform(SIDE * (1 - SIDE_JITTER), SIDE * (1 + SIDE_JITTER), size=len(scene.objects))
    for _ in range(MAX_TRIES):
        low, high = sides / 2 + MARGIN, 1 - sides / 2 - MARGIN
        centres = rng.uniform(low[:, None], high[:, None], size=(len(sides), 2))
        boxes = [(x, y, s) for (x, y), s in zip(centres, sides)]
        if not all(_apart(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i)):
            continue
        if scene.relation is not None:
            along, across = relation_offsets(scene.relation, boxes[0][:2], boxes[1][:2])
            if along < RELATION_DOMINANCE * across:
                continue
        return boxes
    raise RuntimeError(f"no layout found for {scene} in {MAX_TRIES} tries")


def render_scene(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 image of the scene on black, laid out by `layout`."""
    image = np.zeros((image_size, image_size, 3), dtype=np.uint8)
    for (colour, shape), (cx, cy, side) in zip(scene.objects, layout(scene, rng)):
        # Boxes never overlap, so the maximum is each object's own pixels, rims included.
        image = np.maximum(image, rasterise(colour, shape, cx * image_size, cy * image_size, side * image_size, image_size))
    return image


def training_scenes(num_images: int, held_out, rng: np.random.Generator) -> list[Scene]:
    """A category uniformly, then a held-in scene of it uniformly, for each image."""
    pools = [split_scenes(category, held_out)[0] for category in CATEGORIES]
    if not all(pools):
        raise ValueError(f"held_out {list(held_out)} leaves a category without training scenes")
    categories = rng.integers(len(pools), size=num_images)
    return [pools[c][rng.integers(len(pools[c]))] for c in categories]


def _generate(num_images: int, image_size: int, seed: int, held_out) -> datasets.Dataset:
    """Scenes, then their images, all from one Generator seeded with `seed`: a pure function of the arguments."""
    rng = np.random.default_rng(seed)
    scenes = training_scenes(num_images, held_out, rng)
    columns = {
        "image": np.stack([render_scene(scene, image_size, rng) for scene in scenes]),
        "captions": [captions(scene) for scene in scenes],
        "category": [scene.category for scene in scenes],
        "scene": [json.dumps([scene.objects, scene.relation]) for scene in scenes],
    }
    features = datasets.Features({
        "image": datasets.Array3D((image_size, image_size, 3), "uint8"),
        "captions": datasets.Sequence(datasets.Value("string")),
        "category": datasets.Value("string"),
        "scene": datasets.Value("string"),
    })
    return datasets.Dataset.from_dict(columns, features=features)


def compose_dataset(num_images: int = 20000, image_size: int = 32, seed: int = 0, held_out=DEFAULT_HELD_OUT,
                    cache_dir: str | None = None) -> datasets.Dataset:
    """The `datasets.Dataset` (columns image, captions, category, scene as JSON [objects, relation]),
    generated or loaded from cache_dir (see `data.cache.load_or_generate`)."""
    held_out = validate_held_out(held_out)
    name = cache_name("compose", f"n{num_images}_px{image_size}_seed{seed}", [num_images, image_size, seed, held_out, _FORMAT_VERSION])
    return load_or_generate(cache_dir, name, lambda: _generate(num_images, image_size, seed, held_out))


def load_compose_with_scenes(num_images: int = 20000, image_size: int = 32, seed: int = 0, held_out=DEFAULT_HELD_OUT,
                             cache_dir: str | None = None) -> tuple[CaptionedImages, list[Scene]]:
    """`load_compose` plus each image's `Scene`, in row order."""
    dataset = compose_dataset(num_images, image_size, seed, held_out, cache_dir)
    scenes = []
    for category, text in zip(dataset["category"], dataset["scene"]):
        objects, relation = json.loads(text)
        scenes.append(Scene(category, tuple(tuple(o) for o in objects), relation))
    return from_hf(dataset), scenes


def load_compose(num_images: int = 20000, image_size: int = 32, seed: int = 0, held_out=DEFAULT_HELD_OUT,
                 cache_dir: str | None = None) -> CaptionedImages:
    """`num_images` scenes with all their captions, a deterministic function of the arguments; no object
    with a held-out (colour, shape) binding ever appears."""
    return load_compose_with_scenes(num_images, image_size, seed, held_out, cache_dir)[0]
