"""scikit-learn digits: exact pixel scaling, captions that name the right digit, a disk cache that round-trips."""
import os

import numpy as np
import pytest
import sklearn.datasets
import torch
import torch.nn.functional as F

from data import digits
from data.digits import DIGIT_WORDS, load_digits, load_digits_with_labels, prompt


def test_native_size_is_the_raw_scan_scaled_to_255():
    data, labels = load_digits_with_labels(image_size=8)
    raw = sklearn.datasets.load_digits()
    expected = torch.from_numpy(np.round(raw.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
    assert torch.equal(data.images, expected)
    assert torch.equal(labels, torch.from_numpy(raw.target).long())


def test_upsampled_images_average_back_to_their_scan():
    """Bilinear upsampling blurs a little, so compare patterns: every image correlates with its scan."""
    small = load_digits(image_size=8).images.float().flatten(1)
    large = load_digits(image_size=32).images
    assert large.shape == (1797, 1, 32, 32) and large.dtype == torch.uint8
    pooled = F.avg_pool2d(large.float(), 4).flatten(1)
    small, pooled = small - small.mean(1, keepdim=True), pooled - pooled.mean(1, keepdim=True)
    correlation = (small * pooled).sum(1) / (small.norm(dim=1) * pooled.norm(dim=1))
    assert correlation.min() > 0.9


def test_every_caption_names_its_digit_and_only_it():
    data, labels = load_digits_with_labels(image_size=8)
    for caps, label in zip(data.captions, labels.tolist()):
        assert len(caps) >= 5
        for caption in caps:
            named = [d for d in range(10) if DIGIT_WORDS[d] in caption.split() or str(d) in caption.split()]
            assert named == [label], caption
    sevens = {caps for caps, label in zip(data.captions, labels.tolist()) if label == 7}
    assert len(sevens) == 1 and prompt(7) in next(iter(sevens))


def test_prompt_is_canonical_and_rejects_non_digits():
    assert prompt(7) == "a handwritten seven"
    assert len({prompt(d) for d in range(10)}) == 10
    with pytest.raises(ValueError, match="0..9"):
        prompt(10)


def test_cache_round_trips_and_is_read_back_without_rebuilding(tmp_path, monkeypatch):
    first, first_labels = load_digits_with_labels(16, cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == [f"digits-16px-{digits.CACHE_VERSION}"]  # no temp folder left behind

    def fail(_):
        raise AssertionError("rebuilt instead of loading the cache")

    monkeypatch.setattr(digits, "_build_dataset", fail)
    second, second_labels = load_digits_with_labels(16, cache_dir=str(tmp_path))
    assert torch.equal(first.images, second.images) and torch.equal(first_labels, second_labels)
    assert first.captions == second.captions
