"""Fashion-MNIST loader: exact padding of the idx pixels, captions naming the right class, held-out
templates kept out of training, a disk cache keyed by the source files, one-line errors."""
import os

import numpy as np
import pytest
import torch

from data import fashion
from data.fashion import CLASSES, HELD_OUT_TEMPLATES, captions, load_fashion, load_fashion_with_labels, prompt, read_idx
from tests.fashion_fixture import write_fashion_fixture, write_idx


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("fashion")
    return str(root), write_fashion_fixture(root, num_train=50, num_test=30)


def test_padding_keeps_every_pixel_and_adds_black_borders(fixture):
    root, written = fixture
    for split in ("train", "test"):
        data, labels = load_fashion_with_labels(root, split, image_size=32)
        images, expected_labels = written[split]
        assert data.images.shape == (len(images), 1, 32, 32) and data.images.dtype == torch.uint8
        assert torch.equal(data.images[:, 0, 2:30, 2:30], torch.from_numpy(images))
        border = data.images.clone()
        border[:, :, 2:30, 2:30] = 0
        assert border.max() == 0
        assert torch.equal(labels, torch.from_numpy(expected_labels).long())


def test_num_images_keeps_the_first_ones_and_small_sizes_are_resized(fixture):
    root, written = fixture
    subset = load_fashion(root, "train", image_size=28, num_images=7)
    assert torch.equal(subset.images[:, 0], torch.from_numpy(written["train"][0][:7]))
    tiny = load_fashion(root, "train", image_size=8)
    assert tiny.images.shape == (50, 1, 8, 8)
    # an antialiased shrink keeps the mean brightness (a nearest one would not: it samples 64 of 784 pixels)
    assert tiny.images.float().mean().item() == pytest.approx(written["train"][0].mean(), rel=0.05)


def test_every_caption_names_its_class_and_only_it(fixture):
    root, _ = fixture
    data, labels = load_fashion_with_labels(root, "train")
    for caps, label in zip(data.captions, labels.tolist()):
        assert caps == captions(label) and len(caps) >= 5
        for caption in caps:
            named = [k for k, item in enumerate(CLASSES) if caption == item or caption.endswith(" " + item)
                     or f" {item} " in caption]
            assert named == [label], caption
    assert prompt(7) == "a photo of a sneaker" and prompt(9) == "a photo of an ankle boot"


def test_held_out_templates_never_caption_a_training_image(fixture):
    root, _ = fixture
    training = set(load_fashion(root, "train").unique_captions())
    held_out = {c for k in range(10) for c in captions(k, HELD_OUT_TEMPLATES)}
    assert len(held_out) == 10 * len(HELD_OUT_TEMPLATES) and not training & held_out
    assert len(training) == 10 * len(fashion.TEMPLATES)


def test_cache_round_trips_and_is_keyed_by_the_source_files(fixture, tmp_path, monkeypatch):
    root, _ = fixture
    first, first_labels = load_fashion_with_labels(root, "test", 32, cache_dir=str(tmp_path))
    (name,) = os.listdir(tmp_path)  # no temporary folder left behind
    assert name.startswith("fashion-test-32px-nall-") and name.endswith(fashion.CACHE_VERSION)

    def fail(*_):
        raise AssertionError("rebuilt instead of loading the cache")

    with monkeypatch.context() as m:
        m.setattr(fashion, "_build_dataset", fail)
        second, second_labels = load_fashion_with_labels(root, "test", 32, cache_dir=str(tmp_path))
    assert torch.equal(first.images, second.images) and torch.equal(first_labels, second_labels)
    assert first.captions == second.captions
    other = tmp_path / "other"
    write_fashion_fixture(other, num_train=10, num_test=20, seed=1)
    assert len(load_fashion(str(other), "test", 32, cache_dir=str(tmp_path))) == 20
    assert len(os.listdir(tmp_path)) == 3  # a second cache entry beside the first (and the data folder)


def test_missing_data_and_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist.*data.dataset.root") as error:
        load_fashion(str(tmp_path / "absent"))
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="valid choices: train, test"):
        load_fashion(str(tmp_path), split="validation")
    bad = tmp_path / "bad.gz"
    write_idx(bad, np.zeros((3, 2), dtype=np.uint8))
    assert read_idx(str(bad)).shape == (3, 2)
    plain = tmp_path / "plain"
    plain.write_bytes(b"\x00\x00\x0d\x01" + bytes(8))  # idx of float32, which Fashion-MNIST never uses
    with pytest.raises(ValueError, match="not an unsigned-byte idx file"):
        read_idx(str(plain))
    plain.write_bytes(b"\x00\x00\x08\x01" + np.asarray([5], dtype=">i4").tobytes() + bytes(4))
    with pytest.raises(ValueError, match="holds 4 bytes for shape"):
        read_idx(str(plain))


REAL = fashion.DEFAULT_ROOT


@pytest.mark.realdata
@pytest.mark.skipif(not os.path.isdir(REAL), reason=f"{REAL} absent: apt-get install -y dataset-fashion-mnist")
def test_the_installed_dataset_has_60000_train_and_10000_test_images_in_balanced_classes():
    for split, n in (("train", 60000), ("test", 10000)):
        data, labels = load_fashion_with_labels(REAL, split)
        assert data.images.shape == (n, 1, 32, 32)
        assert torch.equal(labels.bincount(), torch.full((10,), n // 10))
        raw = read_idx(fashion.idx_paths(REAL, split)[0])
        assert torch.equal(data.images[:, 0, 2:30, 2:30], torch.from_numpy(raw))
