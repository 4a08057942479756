"""The compose reader and evaluator: every category at 1.0 on real images (the ceiling), and each
category's rule failing the images that break it."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from data.compose import render_scene
from data.compose_scenes import CATEGORIES, Scene, prompt
from data.raster import rasterise
from evaluation.compose_eval import evaluation_scenes, judge
from evaluation.compose_reader import read_objects
from evaluation.runner import evaluate, summary


def _painter(image_size=32, noise=0.0, per_split=24):
    """A perfect 'model': renders every evaluation prompt as the dataset would, optionally noised."""
    by_prompt = {prompt(scene): scene for _, scene in evaluation_scenes(per_split=per_split)}
    rng = np.random.default_rng(0)

    def generate(prompts):
        images = np.stack([render_scene(by_prompt[p], image_size, rng) for p in prompts]).astype(np.float64)
        images = np.clip(np.rint(images + rng.normal(0.0, noise, images.shape)), 0, 255).astype(np.uint8)
        return torch.from_numpy(images).permute(0, 3, 1, 2)

    return generate


@pytest.mark.parametrize("image_size, noise", [(32, 0.0), (32, 10.0), (48, 0.0), (64, 0.0), (64, 10.0)])
def test_real_images_of_every_evaluation_prompt_score_one(image_size, noise):
    results = evaluate("compose", _painter(image_size, noise), OmegaConf.create({}), None)
    assert results["held_in/count"] == results["held_out/count"] == 4 * 24
    scores = {k: v for k, v in results.items() if not k.endswith("count")}
    assert set(scores) == {f"{s}/{c}" for s in ("held_in", "held_out") for c in (*CATEGORIES, "all", "black_background")} | {"overall"}
    assert all(v == 1.0 for v in scores.values()), scores
    assert "overall=1" in summary(results)


def test_reduced_evaluation_gives_every_category_and_split_the_same_share():
    results = evaluate("compose", _painter(per_split=4), OmegaConf.create({}), None, num_samples=36)
    assert results["held_in/count"] == results["held_out/count"] == 4 * 4


def _objects(*placed, size=32):
    """Read back an image of (colour, shape, cx, cy) objects of side 8 pixels."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    for colour, shape, cx, cy in placed:
        image = np.maximum(image, rasterise(colour, shape, cx, cy, 8.0, size))
    return read_objects(image)


def test_reader_returns_each_object_with_its_box():
    objects = _objects(("red", "circle", 8, 8), ("blue", "triangle", 24, 20))
    assert [(o["colour"], o["shape"]) for o in objects] == [("red", "circle"), ("blue", "triangle")]
    assert objects[0]["box"] == (4 / 32, 4 / 32, 12 / 32, 12 / 32)


def test_colour_attribution_fails_swapped_colours_but_two_objects_only_asks_for_the_shapes():
    swapped = _objects(("blue", "circle", 8, 8), ("red", "square", 24, 24))
    assert not judge(Scene("colour_attribution", (("red", "circle"), ("blue", "square"))), swapped)
    assert judge(Scene("two_objects", (("red", "circle"), ("red", "square"))), swapped)
    assert not judge(Scene("two_objects", (("red", "circle"), ("red", "triangle"))), swapped)


def test_position_needs_the_named_relation():
    scene = Scene("position", (("red", "circle"), ("blue", "square")), "left of")
    assert judge(scene, _objects(("red", "circle", 8, 16), ("blue", "square", 24, 16)))
    assert not judge(scene, _objects(("red", "circle", 24, 16), ("blue", "square", 8, 16)))
    assert not judge(scene, _objects(("red", "circle", 14, 6), ("blue", "square", 18, 26)))  # above, not left of
    assert judge(Scene("position", scene.objects, "above"), _objects(("red", "circle", 14, 6), ("blue", "square", 18, 26)))


def test_counting_and_extra_objects():
    two = Scene("counting", (("green", "triangle"),) * 2)
    assert judge(two, _objects(("green", "triangle", 8, 8), ("green", "triangle", 24, 24)))
    assert not judge(two, _objects(("green", "triangle", 8, 8)))
    assert not judge(two, _objects(("green", "triangle", 8, 8), ("green", "triangle", 24, 24), ("green", "triangle", 8, 24)))
    assert not judge(Scene("two_objects", (("red", "circle"), ("red", "square"))),
                     _objects(("red", "circle", 8, 8), ("red", "square", 24, 24), ("red", "square", 8, 24)))


def test_touching_objects_and_noise_are_not_credited():
    merged = _objects(("red", "circle", 12, 16), ("blue", "square", 19, 16))
    assert not judge(Scene("colour_attribution", (("red", "circle"), ("blue", "square"))), merged)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert not any(judge(scene, read_objects(noise)) for _, scene in evaluation_scenes(per_split=2))
    assert read_objects(np.zeros((32, 32, 3), dtype=np.uint8)) == []
