"""The digits judge: accurate on held-out real digits, reloaded bit-for-bit, features that separate real from fake.

Training takes ~10-20 s on 2 CPU cores; it happens once per module (the fixture) and the rest loads the cache.
"""
import os

import pytest
import torch

from evaluation.digits_classifier import VERSION, load_or_train_classifier, split_digits
from evaluation.fid import frechet_distance

IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("classifier_cache"))


@pytest.fixture(scope="module")
def classifier(cache_dir):
    return load_or_train_classifier(IMAGE_SIZE, cache_dir, seed=0)


@pytest.fixture(scope="module")
def held_out(cache_dir):
    return split_digits(IMAGE_SIZE, cache_dir, seed=0)[1]


def test_reads_held_out_real_digits(classifier, held_out):
    images, labels = held_out
    accuracy = (classifier.predict(images) == labels).float().mean().item()
    assert accuracy >= 0.97
    assert classifier.held_out_accuracy == pytest.approx(accuracy)


def test_cached_reload_predicts_identically(classifier, held_out, cache_dir):
    assert f"digits_classifier-{IMAGE_SIZE}px-{VERSION}-seed0.safetensors" in os.listdir(cache_dir)
    reloaded = load_or_train_classifier(IMAGE_SIZE, cache_dir, seed=0)
    assert reloaded is not classifier
    images, _ = held_out
    assert torch.equal(reloaded.predict(images), classifier.predict(images))
    assert torch.equal(reloaded.features(images), classifier.features(images))
    assert reloaded.held_out_accuracy == classifier.held_out_accuracy


def test_features_put_real_digits_closer_to_each_other_than_to_blurred_ones(classifier, held_out, cache_dir):
    (train_images, _), _ = split_digits(IMAGE_SIZE, cache_dir, seed=0)
    images, _ = held_out
    blurred = torch.nn.functional.avg_pool2d(images.float(), 4)
    blurred = torch.nn.functional.interpolate(blurred, scale_factor=4).round().to(torch.uint8)
    real = classifier.features(train_images[:360])
    assert real.shape == (360, 128) and real.dtype == torch.float32
    real_vs_real = frechet_distance(real, classifier.features(images))
    real_vs_blurred = frechet_distance(real, classifier.features(blurred))
    assert real_vs_blurred > 5 * real_vs_real


def test_predict_restores_training_mode_and_rejects_other_sizes(classifier, held_out):
    images, _ = held_out
    classifier.train()
    classifier.predict(images[:4])
    assert classifier.training
    classifier.eval()
    with pytest.raises(ValueError, match="uint8"):
        classifier.predict(images[:4, :, :16, :16])
    with pytest.raises(ValueError, match="uint8"):
        classifier.predict(images[:4].float())
