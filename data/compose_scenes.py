"""What a compose scene is, how it is captioned, and which scenes are held out of training.

Four categories, each its own prompt family, after GenEval (Ghosh et al. 2023, "GenEval: An
Object-Focused Framework for Evaluating Text-to-Image Alignment"):

- two_objects: two different shapes of one colour, "a red circle and a red square". Both shapes
  must be there; sharing the colour leaves nothing to bind, so this measures drawing two things.
- colour_attribution: two different shapes of two different colours, "a red circle and a blue
  square". Each shape must carry its own colour; the swapped scene fails. This is binding.
- position: "a red circle to the left of a blue square" (left of, right of, above, below), the two
  objects differing in colour and shape. Both must be there and stand in the named relation.
- counting: "two green triangles", one to three objects of one colour and shape.

A scene is held out when one of its objects has a held-out (colour, shape) binding: such objects never
appear in any training image, although their colour and their shape each appear with others, so the
held-out prompts ask for bindings seen only separately. Training captions are drawn from several
templates (with the pair's order swapped and relations inverted); evaluation prompts the canonical
caption, `prompt(scene)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, permutations

from data.raster import COLOURS, SHAPES, check, validate_held_out

CATEGORIES = ("two_objects", "colour_attribution", "position", "counting")
RELATIONS = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
NUMBERS = ("one", "two", "three")
DEFAULT_HELD_OUT: tuple[tuple[str, str], ...] = (("blue", "triangle"), ("yellow", "circle"), ("green", "square"))

PAIR_TEMPLATES = ("a {a} and a {b}", "a {b} and a {a}", "there is a {a} and a {b}", "a picture of a {a} and a {b}",
                  "a {a} together with a {b}")
POSITION_TEMPLATES = ("a {a} {rel} a {b}", "a {b} {inverse} a {a}", "there is a {a} {rel} a {b}",
                      "the {a} is {rel} the {b}", "a picture of a {a} {rel} a {b}")
COUNT_TEMPLATES = ("{n} {noun}", "exactly {n} {noun}", "a picture of {n} {noun}", "{n} {noun} on a black background",
                   "an image with {n} {noun}")


@dataclass(frozen=True)
class Scene:
    """category: one of CATEGORIES; objects: (colour, shape) of each object in caption order (counting:
    the same pair once per object); relation: position only, how objects[0] stands to objects[1]."""

    category: str
    objects: tuple[tuple[str, str], ...]
    relation: str | None = None


def captions(scene: Scene) -> list[str]:
    """Every training caption of the scene; the first is the canonical one."""
    names = [f"{colour} {shape}" for colour, shape in scene.objects]
    if scene.category == "counting":
        n = len(names)
        noun = names[0] + ("s" if n > 1 else "")
        return [t.format(n=NUMBERS[n - 1], noun=noun) for t in COUNT_TEMPLATES]
    a, b = names
    if scene.category == "position":
        rel, inverse = RELATIONS[scene.relation], RELATIONS[INVERSE[scene.relation]]
        return [t.format(a=a, b=b, rel=rel, inverse=inverse) for t in POSITION_TEMPLATES]
    return [t.format(a=a, b=b) for t in PAIR_TEMPLATES]


def prompt(scene: Scene) -> str:
    """The canonical caption; evaluation prompts the model with it."""
    return captions(scene)[0]


def all_scenes(category: str) -> list[Scene]:
    """Every scene of a category, in a stable order (unordered pairs once, for the pair categories)."""
    check("category", category, CATEGORIES)
    if category == "two_objects":
        return [Scene(category, ((c, s1), (c, s2))) for c in COLOURS for s1, s2 in combinations(SHAPES, 2)]
    if category == "colour_attribution":
        return [Scene(category, ((c1, s1), (c2, s2))) for s1, s2 in combinations(SHAPES, 2)
                for c1 in COLOURS for c2 in COLOURS if c1 != c2]
    if category == "position":
        return [Scene(category, ((c1, s1), (c2, s2)), relation) for relation in RELATIONS
                for s1, s2 in permutations(SHAPES, 2) for c1 in COLOURS for c2 in COLOURS if c1 != c2]
    return [Scene(category, ((c, s),) * n) for n in range(1, len(NUMBERS) + 1) for c in COLOURS for s in SHAPES]


def split_scenes(category: str, held_out=DEFAULT_HELD_OUT) -> tuple[list[Scene], list[Scene]]:
    """(held_in, held_out) scenes of a category: held out when any object's binding is held out."""
    pairs = set(validate_held_out(held_out))
    held_in, out = [], []
    for scene in all_scenes(category):
        (out if pairs.intersection(scene.objects) else held_in).append(scene)
    return held_in, out
