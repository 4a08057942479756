"""The shapes dataset: determinism, held-out pairs, captions, exact geometry, caching, validation."""
import os
import re

import numpy as np
import pytest

from data import shapes
from data.captioned import CaptionedImages


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    first = shapes.load_shapes(num_images=40, image_size=16, seed=3)
    again = shapes.load_shapes(num_images=40, image_size=16, seed=3)
    other = shapes.load_shapes(num_images=40, image_size=16, seed=4)
    assert isinstance(first, CaptionedImages) and first.images.shape == (40, 3, 16, 16)
    assert first.images.numpy().tobytes() == again.images.numpy().tobytes()
    assert first.captions == again.captions
    assert not np.array_equal(first.images.numpy(), other.images.numpy())


def test_held_out_pairs_never_appear_and_every_held_in_pair_does():
    held_in, held_out = shapes.combinations()
    assert len(held_in) + len(held_out) == 6 * 3 * 2 * 9
    assert len(held_out) == len(shapes.DEFAULT_HELD_OUT) * 2 * 9
    _, attributes = shapes.load_shapes_with_attributes(num_images=600, image_size=8, seed=0)
    pairs = [(a["colour"], a["shape"]) for a in attributes]
    assert set(pairs).isdisjoint(shapes.DEFAULT_HELD_OUT)
    assert set(pairs) == {(a["colour"], a["shape"]) for a in held_in}
    counts = np.unique(np.array(pairs), axis=0, return_counts=True)[1]
    assert counts.min() > 20 and counts.max() < 60, "15 pairs drawn uniformly: ~40 of 600 each"


def test_held_out_from_hydra_lists_is_respected():
    held_out = [["red", "circle"], ["red", "square"], ["red", "triangle"]]
    _, attributes = shapes.load_shapes_with_attributes(num_images=200, image_size=8, seed=0, held_out=held_out)
    assert "red" not in {a["colour"] for a in attributes}


def test_every_caption_names_colour_shape_size_and_position():
    data, attributes = shapes.load_shapes_with_attributes(num_images=100, image_size=8, seed=1)
    assert len(shapes.TEMPLATES) >= 4
    for captions, attrs in zip(data.captions, attributes):
        assert captions[0] == shapes.prompt(**attrs) == "a {size} {colour} {shape} in the {position}".format(**attrs)
        assert len(set(captions)) == len(shapes.TEMPLATES)
        for caption in captions:
            for word in attrs.values():
                assert re.search(rf"\b{word}\b", caption), (word, caption)


def test_partial_captions_leave_out_exactly_the_colour_or_the_shape():
    full = shapes.load_shapes(num_images=60, image_size=8, seed=1)
    data, attributes = shapes.load_shapes_with_attributes(num_images=60, image_size=8, seed=1, partial_captions=True)
    assert data.images.equal(full.images)
    for captions, full_captions, attrs in zip(data.captions, full.captions, attributes):
        assert captions[: len(full_captions)] == full_captions, "the full captions stay, in order"
        no_colour, no_shape = captions[len(full_captions):]
        others = [attrs["size"], attrs["position"]]
        assert not re.search(rf"\b{attrs['colour']}\b", no_colour) and re.search(rf"\b{attrs['shape']}\b", no_colour)
        assert not re.search(rf"\b{attrs['shape']}\b", no_shape) and re.search(rf"\b{attrs['colour']}\b", no_shape)
        assert all(re.search(rf"\b{w}\b", no_colour) and re.search(rf"\b{w}\b", no_shape) for w in others)


@pytest.mark.parametrize("shape", shapes.SHAPES)
@pytest.mark.parametrize("colour", shapes.COLOURS)
def test_interior_is_the_exact_palette_colour_and_outside_the_box_is_black(colour, shape):
    cx, cy, side, n = 13.3, 17.6, 11.0, 32
    image = shapes.rasterise(colour, shape, cx, cy, side, n)
    # The triangle is widest near its base: probe at 3/4 of its height rather than the box centre.
    probe_y = cy + side / 4 if shape == "triangle" else cy
    assert tuple(image[int(probe_y), int(cx)]) == shapes.COLOURS[colour]
    y, x = np.mgrid[0:n, 0:n]
    outside = (x + 1 <= cx - side / 2) | (x >= cx + side / 2) | (y + 1 <= cy - side / 2) | (y >= cy + side / 2)
    assert image[outside].max() == 0
    assert tuple(image[0, 0]) == tuple(image[-1, -1]) == (0, 0, 0)
    edge = image.max(axis=2)
    assert ((edge > 0) & (edge < 255)).any(), "edges should be anti-aliased"


@pytest.mark.parametrize("shape, area", [("circle", np.pi / 4), ("square", 1.0), ("triangle", 0.5)])
def test_coverage_integrates_to_the_shape_area(shape, area):
    side = 9.7
    image = shapes.rasterise("red", shape, 15.2, 16.9, side, 32)
    covered = image[..., 0].astype(np.float64).sum() / 255
    assert covered == pytest.approx(area * side**2, rel=0.01)


def test_triangle_apex_is_up():
    image = shapes.rasterise("green", "triangle", 16.0, 16.0, 14.0, 32)
    widths = image[..., 1].astype(np.float64).sum(axis=1) / 255
    rows = widths[widths > 0]
    assert np.all(np.diff(rows) > 0), "each row should be wider than the one above, down to the base"
    assert rows[0] < 1 and rows[-1] > 13


def test_jitter_stays_within_its_bounds_and_uses_them():
    rng = np.random.default_rng(0)
    boxes = np.array([shapes.jittered_box("large", "bottom left", 100, rng) for _ in range(2000)])
    cx, cy, side = boxes.T
    assert np.abs(cx - 25).max() <= 4 and np.abs(cx - 25).max() > 3.9
    assert np.abs(cy - 75).max() <= 4 and np.abs(cy - 75).max() > 3.9
    assert side.min() >= 36 and side.max() <= 44 and side.max() - side.min() > 7.8


def test_small_and_large_boxes_have_their_nominal_sides():
    rng = np.random.default_rng(0)
    for size, nominal in shapes.SIZES.items():
        for _ in range(20):
            image = shapes.render("cyan", "square", size, "center", 64, rng)
            side = image[..., 2].astype(np.float64).sum(axis=1).max() / 255 / 64
            # 8x8 supersampling places each edge to within 1/8 of a pixel.
            assert nominal * 0.9 - 0.25 / 64 <= side <= nominal * 1.1 + 0.25 / 64


def test_cache_round_trip(tmp_path, monkeypatch):
    kwargs = dict(num_images=30, image_size=12, seed=5, cache_dir=str(tmp_path))
    first, first_attributes = shapes.load_shapes_with_attributes(**kwargs)
    folders = [f for f in os.listdir(tmp_path) if not f.startswith(".")]
    assert len(folders) == 1 and folders[0].startswith("shapes_n30_px12_seed5_")
    assert os.listdir(tmp_path) == folders, "no temporary folder should be left behind"

    def must_not_render(*args, **kwargs):
        raise AssertionError("a cached dataset should not be regenerated")

    monkeypatch.setattr(shapes, "render", must_not_render)
    second, second_attributes = shapes.load_shapes_with_attributes(**kwargs)
    assert np.array_equal(first.images.numpy(), second.images.numpy())
    assert first.captions == second.captions and first_attributes == second_attributes


def test_cache_folder_depends_on_held_out(tmp_path):
    shapes.load_shapes(num_images=5, image_size=8, cache_dir=str(tmp_path))
    shapes.load_shapes(num_images=5, image_size=8, cache_dir=str(tmp_path), held_out=[["red", "circle"]])
    assert len(os.listdir(tmp_path)) == 2


@pytest.mark.parametrize("held_out, bad", [([["purple", "circle"]], "purple"), ([["red", "hexagon"]], "hexagon")])
def test_bad_held_out_value_raises_a_one_line_error_listing_the_choices(held_out, bad):
    with pytest.raises(ValueError) as error:
        shapes.load_shapes(num_images=5, image_size=8, held_out=held_out)
    message = str(error.value)
    assert bad in message and "\n" not in message
    assert ("red, green, blue" in message) if bad == "purple" else ("circle, square, triangle" in message)


def test_held_out_entries_must_be_pairs():
    with pytest.raises(ValueError, match="pairs"):
        shapes.combinations(held_out=["red"])
