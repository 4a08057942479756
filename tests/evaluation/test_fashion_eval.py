"""Fashion-MNIST evaluation: balanced prompts under held-in and held-out templates, and its ceiling: real
test images given as "samples" score the classifier's own accuracy, an FID at the real-vs-real baseline
and precision / recall at theirs. On a tiny idx fixture by default; on the installed dataset with -m slow."""
import os

import pytest
import torch

from data import fashion
from data.fashion import HELD_OUT_TEMPLATES, TEMPLATES, captions, load_fashion_with_labels
from evaluation import fashion_classifier
from evaluation.fashion_classifier import load_or_train_classifier
from evaluation.fashion_eval import evaluate_fashion, evaluation_prompts, reference_split
from evaluation.runner import evaluate, summary
from tests.fashion_fixture import write_fashion_fixture

LABEL_OF = {c: k for k in range(10) for c in captions(k, TEMPLATES + HELD_OUT_TEMPLATES)}


def test_prompts_balance_classes_within_both_template_groups():
    prompts, labels, held_out = evaluation_prompts(200)
    assert [LABEL_OF[p] for p in prompts] == labels.tolist()
    for group, templates in ((held_out, HELD_OUT_TEMPLATES), (~held_out, TEMPLATES)):
        assert torch.equal(labels[group].bincount(), torch.full((10,), 10))
        chosen = {p for p, g in zip(prompts, group.tolist()) if g}
        assert chosen == {c for k in range(10) for c in captions(k, templates)}  # every template used
    assert evaluation_prompts(36)[2].sum() == 16  # rounds of ten alternate: 10 + 6 held-out of 36


def real_images_as_samples(test_images: torch.Tensor, test_labels: torch.Tensor):
    """A generator that answers each prompt with a real test image of its class from outside the FID
    reference set: the best any model can do. Returns it and the images it will give, in prompt order."""
    _, rest = reference_split(len(test_images))
    pools = {k: rest[test_labels[rest] == k].tolist() for k in range(10)}

    def generate(prompts):
        used = {k: 0 for k in range(10)}
        picks = []
        for p in prompts:
            k = LABEL_OF[p]
            picks.append(pools[k][used[k] % len(pools[k])])
            used[k] += 1
        return test_images[picks]

    return generate


def assert_at_the_ceiling(results, classifier, generate, num_samples):
    prompts, labels, _ = evaluation_prompts(num_samples)
    expected = (classifier.predict(generate(prompts)) == labels).float().mean().item()
    assert results["accuracy"] == pytest.approx(expected)
    assert results["fid"] < 1.5 * results["fid_real_vs_real"]
    assert results["precision"] > 0.9 * results["precision_real_vs_real"]
    assert results["recall"] > 0.9 * results["recall_real_vs_real"]


def test_real_images_score_at_the_ceiling_on_a_fixture(tmp_path, monkeypatch):
    # The ceiling holds for any feature extractor, so a few steps of a narrow classifier do (the real one is
    # the slow test's); its accuracy only has to be the one measured on the same images.
    monkeypatch.setattr(fashion_classifier, "RECIPE", dict(width=8, epochs=1, batch_size=50, lr=3e-3, max_shift=0))
    root = str(tmp_path / "fashion")
    write_fashion_fixture(tmp_path / "fashion", num_train=400, num_test=600)
    test, labels = load_fashion_with_labels(root, "test")
    generate = real_images_as_samples(test.images, labels)
    dataset_cfg = {"root": root, "image_size": 32}
    results = evaluate("fashion", generate, dataset_cfg, str(tmp_path / "cache"), num_samples=200)
    classifier = load_or_train_classifier(root, 32, str(tmp_path / "cache"))
    assert results["classifier_test_accuracy"] == classifier.held_out_accuracy  # trained once, then read back
    assert_at_the_ceiling(results, classifier, generate, 200)
    assert results["fid_count"] == 200  # 300 reference images, 300 others
    assert {"accuracy/held_in", "accuracy/held_out", "accuracy/ankle_boot"} <= set(results)
    assert "accuracy/held_out=" in summary(results) and "recall=" in summary(results)


REAL = fashion.DEFAULT_ROOT


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not os.path.isdir(REAL), reason=f"{REAL} absent: apt-get install -y dataset-fashion-mnist")
def test_real_test_images_score_at_the_ceiling_on_the_installed_dataset(tmp_path):
    """Trains the classifier on the 60 000 real images (about a minute or two on 2 CPU cores)."""
    test, labels = load_fashion_with_labels(REAL, "test")
    generate = real_images_as_samples(test.images, labels)
    results = evaluate_fashion(generate, REAL, 32, str(tmp_path), num_samples=1000)
    classifier = load_or_train_classifier(REAL, 32, str(tmp_path))
    assert results["classifier_test_accuracy"] >= 0.9
    assert_at_the_ceiling(results, classifier, generate, 1000)
    assert abs(results["accuracy"] - results["classifier_test_accuracy"]) < 0.03
