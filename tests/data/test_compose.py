"""The compose dataset: captions per category, held-out bindings never drawn, layouts that keep objects
apart and relations unambiguous, determinism and caching."""
import os
from itertools import combinations

import numpy as np
import pytest

from data import compose
from data.compose_scenes import (CATEGORIES, DEFAULT_HELD_OUT, RELATIONS, Scene, all_scenes, captions, prompt,
                                 split_scenes)


def test_canonical_prompts_use_plain_phrasings():
    assert prompt(Scene("two_objects", (("red", "circle"), ("red", "square")))) == "a red circle and a red square"
    assert prompt(Scene("colour_attribution", (("red", "circle"), ("blue", "square")))) == "a red circle and a blue square"
    assert prompt(Scene("position", (("red", "circle"), ("blue", "square")), "left of")) == \
        "a red circle to the left of a blue square"
    assert prompt(Scene("counting", (("green", "triangle"),) * 2)) == "two green triangles"
    assert prompt(Scene("counting", (("green", "triangle"),))) == "one green triangle"


def test_inverted_relation_templates_say_the_same_thing():
    scene = Scene("position", (("red", "circle"), ("blue", "square")), "above")
    assert "a blue square below a red circle" in captions(scene)


def test_every_canonical_prompt_is_unique_and_names_one_scene():
    scenes = [s for c in CATEGORIES for s in all_scenes(c)]
    assert len({prompt(s) for s in scenes}) == len(scenes) == 18 + 90 + 720 + 54


def test_held_out_scenes_are_exactly_those_with_a_held_out_binding():
    for category in CATEGORIES:
        held_in, held_out = split_scenes(category)
        assert held_in and held_out
        assert all(not set(DEFAULT_HELD_OUT) & set(s.objects) for s in held_in)
        assert all(set(DEFAULT_HELD_OUT) & set(s.objects) for s in held_out)


def test_training_images_never_show_a_held_out_binding_and_cover_every_category():
    data, scenes = compose.load_compose_with_scenes(num_images=400, image_size=32, seed=3)
    assert data.images.shape == (400, 3, 32, 32)
    assert not any(set(DEFAULT_HELD_OUT) & set(s.objects) for s in scenes)
    counts = {c: sum(s.category == c for s in scenes) for c in CATEGORIES}
    assert all(60 <= n <= 140 for n in counts.values()), counts
    assert all(caps[0] == prompt(s) and len(caps) == 5 for caps, s in zip(data.captions, scenes))


@pytest.mark.parametrize("category", CATEGORIES)
def test_layouts_keep_objects_inside_and_apart_and_relations_unambiguous(category):
    rng = np.random.default_rng(0)
    for scene in all_scenes(category)[::7]:
        boxes = compose.layout(scene, rng)
        assert len(boxes) == len(scene.objects)
        for cx, cy, side in boxes:
            assert compose.MARGIN <= cx - side / 2 and cx + side / 2 <= 1 - compose.MARGIN
            assert compose.MARGIN <= cy - side / 2 and cy + side / 2 <= 1 - compose.MARGIN
        for a, b in combinations(boxes, 2):
            need = (a[2] + b[2]) / 2 + compose.GAP
            assert max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= need
        if scene.relation is not None:
            along, across = compose.relation_offsets(scene.relation, boxes[0][:2], boxes[1][:2])
            assert along >= compose.RELATION_DOMINANCE * across
            others = [r for r in RELATIONS if r != scene.relation]
            assert all(np.less(*compose.relation_offsets(r, boxes[0][:2], boxes[1][:2])) for r in others)


def test_same_arguments_same_dataset_and_the_cache_round_trips(tmp_path, monkeypatch):
    kwargs = dict(num_images=20, image_size=16, seed=5, cache_dir=str(tmp_path))
    first, scenes = compose.load_compose_with_scenes(**kwargs)
    assert os.listdir(tmp_path)[0].startswith("compose_n20_px16_seed5_") and len(os.listdir(tmp_path)) == 1
    monkeypatch.setattr(compose, "render_scene", lambda *a, **k: (_ for _ in ()).throw(AssertionError("regenerated")))
    second, scenes_again = compose.load_compose_with_scenes(**kwargs)
    assert np.array_equal(first.images.numpy(), second.images.numpy()) and scenes == scenes_again
    assert first.captions == second.captions


def test_bad_held_out_binding_raises_a_one_line_error_listing_the_choices():
    with pytest.raises(ValueError) as error:
        compose.load_compose(num_images=4, image_size=8, held_out=[["purple", "circle"]])
    assert "purple" in str(error.value) and "red, green, blue" in str(error.value) and "\n" not in str(error.value)


def test_preview_prompts_cover_every_category_held_in_and_held_out():
    import yaml
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "data" / "compose.yaml").read_text())
    by_prompt = {}
    for category in CATEGORIES:
        for split, scenes in zip(("held_in", "held_out"), split_scenes(category, config["dataset"]["held_out"])):
            by_prompt.update({prompt(s): (category, split) for s in scenes})
    covered = {by_prompt[p] for p in config["preview_prompts"]}
    assert covered == {(c, s) for c in CATEGORIES for s in ("held_in", "held_out")}
