"""The shapes reader: exact on real images (the metric's ceiling), robust to mild corruption, and never
crediting garbage."""
import numpy as np
import pytest
import torch

from data import shapes
from evaluation.shapes_reader import read_shape, score


def _real(num_images: int, image_size: int, seed: int = 7):
    """(N, 3, H, W) uint8 tensor of dataset images over all pairs, and their attributes."""
    data, attributes = shapes.load_shapes_with_attributes(num_images, image_size, seed=seed, held_out=())
    return data.images, attributes


def _corrupt(images: torch.Tensor, scale: float = 1.0, offset: float = 0.0, noise: float = 0.0, seed: int = 0):
    """round(images * scale + offset + N(0, noise^2)), clipped to uint8."""
    rng = np.random.default_rng(seed)
    x = images.numpy().astype(np.float64) * scale + offset + rng.normal(0.0, noise, images.shape)
    return torch.from_numpy(np.clip(np.rint(x), 0, 255).astype(np.uint8))


def test_reads_real_images_at_32_pixels():
    images, attributes = _real(1000, 32)
    result = score(images, attributes)
    assert result["all"] >= 0.99, result


@pytest.mark.parametrize("image_size", [24, 48, 64])  # 64: latent diffusion's size (ldm_shapes64)
def test_reads_real_images_at_other_sizes(image_size):
    images, attributes = _real(400, image_size)
    result = score(images, attributes)
    assert result["all"] >= 0.99, result


def test_mild_gaussian_noise_does_not_break_it():
    images, attributes = _real(400, 32)
    result = score(_corrupt(images, noise=10.0), attributes)
    assert result["all"] >= 0.99, result


def test_off_colours_on_a_grey_background_still_read():
    images, attributes = _real(400, 32)
    result = score(_corrupt(images, scale=0.8, offset=25.0, noise=5.0), attributes)
    assert result["all"] >= 0.99, result


def test_layout_and_container_do_not_change_the_reading():
    images, attributes = _real(20, 32)
    for image, target in zip(images, attributes):
        assert read_shape(image) == read_shape(image.permute(1, 2, 0).numpy()) == target


def test_empty_and_noise_images_read_as_nothing():
    rng = np.random.default_rng(0)
    assert read_shape(np.zeros((32, 32, 3), dtype=np.uint8)) is None
    for _ in range(20):
        assert read_shape(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) is None


@pytest.mark.parametrize("rgb", [(255, 128, 0), (128, 128, 128), (110, 0, 0)], ids=["orange", "grey", "faint red"])
def test_objects_off_the_palette_read_as_nothing(rgb):
    coverage = shapes.rasterise("red", "square", 16.0, 16.0, 12.0, 32)[..., :1] / 255
    image = np.rint(coverage * np.array(rgb)).astype(np.uint8)
    assert read_shape(image) is None


def test_pure_noise_scores_zero():
    _, attributes = _real(50, 32)
    noise = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert score(noise, attributes)["all"] == 0.0


def test_two_objects_of_different_colours_are_not_one_object():
    red = shapes.rasterise("red", "square", 8.0, 8.0, 7.0, 32)
    blue = shapes.rasterise("blue", "circle", 24.0, 24.0, 12.0, 32)
    overlapping = shapes.rasterise("green", "circle", 12.0, 8.0, 7.0, 32)
    assert read_shape(red) == {"colour": "red", "shape": "square", "size": "small", "position": "top left"}
    assert read_shape(np.maximum(red, blue)) is None
    assert read_shape(np.maximum(red, overlapping)) is None


def test_score_counts_each_attribute_and_unreadable_images_as_wrong():
    images, attributes = _real(4, 32)
    targets = [dict(a) for a in attributes]
    targets[0]["colour"] = "magenta" if targets[0]["colour"] != "magenta" else "red"
    targets[1]["position"] = "center" if targets[1]["position"] != "center" else "top"
    images = images.clone()
    images[2] = 0
    assert score(images, targets) == {"colour": 0.5, "shape": 0.75, "size": 0.75, "position": 0.5, "all": 0.25}


def test_rejects_images_that_are_not_uint8():
    with pytest.raises(ValueError, match="uint8"):
        read_shape(np.zeros((32, 32, 3), dtype=np.float32))
