"""Fashion-MNIST evaluation: a classifier trained on the real photos judges samples prompted with each
class, under the training caption templates (held-in) and under templates never seen in training
(held-out); its features give an FID against the real test set and precision / recall.

Every distribution metric sits beside its real-vs-real value at the same count: test images that are
not in the reference set, scored exactly like the samples. FID is biased upwards at small counts and
precision / recall fall below 1 even for real images, so these baselines are the ceiling a model can
reach at that count.
"""
from __future__ import annotations

from typing import Callable

import torch

from data.fashion import HELD_OUT_TEMPLATES, LABEL_NAMES, TEMPLATES, captions, load_fashion_with_labels
from evaluation.fashion_classifier import load_or_train_classifier
from evaluation.fid import frechet_distance
from evaluation.precision_recall import precision_recall

REFERENCE_SIZE = 5000  # test images in the FID reference set; the other 5000 supply the real-vs-real baseline
K = 3  # neighbours per manifold ball in precision / recall, as in Kynkäänniemi et al.


def evaluation_prompts(num_samples: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(prompts, labels (N,), held_out (N,) bool). Sample i shows class i % 10; rounds of ten alternate
    between held-in and held-out templates, each group cycling through its own templates, so both halves
    are balanced over the classes."""
    labels, rounds = torch.arange(num_samples) % 10, torch.arange(num_samples) // 10
    held_out = rounds % 2 == 1
    prompts = []
    for label, r, out in zip(labels.tolist(), rounds.tolist(), held_out.tolist()):
        templates = HELD_OUT_TEMPLATES if out else TEMPLATES
        prompts.append(captions(label, (templates[(r // 2) % len(templates)],))[0])
    return prompts, labels, held_out


def evaluate_fashion(generate: Callable[[list[str]], torch.Tensor], root: str, image_size: int, cache_dir: str | None,
                     num_samples: int = 1000, seed: int = 0) -> dict[str, float]:
    """generate(prompts) -> (N, 1, H, W) uint8. Accuracy overall, per class and per template group;
    FID, precision and recall of the first min(num_samples, 5000) samples with their real-vs-real values."""
    classifier = load_or_train_classifier(root, image_size, cache_dir)
    prompts, labels, held_out = evaluation_prompts(num_samples)
    images = generate(prompts)
    correct = (classifier.predict(images) == labels).float()
    results = {"accuracy": correct.mean().item(), "accuracy/held_in": correct[~held_out].mean().item()}
    if held_out.any():
        results["accuracy/held_out"] = correct[held_out].mean().item()
    for label, name in enumerate(LABEL_NAMES):
        results[f"accuracy/{name}"] = correct[labels == label].mean().item()
    test, _ = load_fashion_with_labels(root, "test", image_size, cache_dir=cache_dir)
    results.update(distribution_metrics(classifier.features, images, test.images, seed))
    results["classifier_test_accuracy"] = classifier.held_out_accuracy
    return results


def reference_split(num_real: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, rest) indices into the real test images: a seeded random min(5000, half), and the others."""
    order = torch.randperm(num_real, generator=torch.Generator().manual_seed(seed))
    size = min(REFERENCE_SIZE, num_real // 2)
    return order[:size], order[size:]


def distribution_metrics(features: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, real: torch.Tensor,
                         seed: int = 0) -> dict[str, float]:
    """FID against a reference half of `real` and precision / recall against as many reference images as
    samples, each beside the same metric for real images outside the reference half."""
    reference_idx, rest_idx = reference_split(len(real), seed)
    n = min(len(images), len(rest_idx))
    reference = features(real[reference_idx])
    samples, baseline = features(images[:n]), features(real[rest_idx[:n]])
    results = {"fid": frechet_distance(samples, reference), "fid_real_vs_real": frechet_distance(baseline, reference),
               "fid_count": n}
    if n > K:  # each set needs K neighbours besides the point itself
        results["precision"], results["recall"] = precision_recall(reference[:n], samples, K)
        results["precision_real_vs_real"], results["recall_real_vs_real"] = precision_recall(reference[:n], baseline, K)
    return results
