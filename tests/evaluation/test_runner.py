import json

import numpy as np
import pytest
import torch

from data.digits import load_digits_with_labels, prompt as digit_prompt
from data.shapes import DEFAULT_HELD_OUT, combinations, prompt, render
from evaluation.runner import evaluate, summary, write_results
from evaluation.shapes_eval import score_images
from omegaconf import OmegaConf


def _painter(background=0):
    """A perfect 'model': draws exactly what the prompt asks for, on a chosen background level."""
    held_in, held_out = combinations(DEFAULT_HELD_OUT)
    by_prompt = {prompt(**c): c for c in held_in + held_out}
    rng = np.random.default_rng(0)

    def generate(prompts):
        images = [render(**by_prompt[p], image_size=32, rng=rng) for p in prompts]
        images = np.maximum(np.stack(images), background).astype(np.uint8)
        return torch.from_numpy(images).permute(0, 3, 1, 2)

    return generate


def test_a_perfect_model_scores_one_on_every_split():
    results = evaluate("shapes", _painter(), OmegaConf.create({"held_out": [list(p) for p in DEFAULT_HELD_OUT]}), None)
    assert results["held_in/count"] == 270 and results["held_out/count"] == 54
    assert results["held_in/all"] == 1.0 and results["held_out/all"] == 1.0
    assert "held_in/all=1" in summary(results)


def test_the_misses_name_each_wrong_prompt_and_what_was_read():
    paint = _painter()
    swapped = {"a small blue triangle in the left": "a small magenta triangle in the left",
               "a large green square in the top": "a large green circle in the top"}

    def generate(prompts):  # the perfect painter, except for two held-out prompts
        return paint([swapped.get(p, p) for p in prompts])

    results = evaluate("shapes", generate, OmegaConf.create({}), None)
    assert results["held_in/misses"] == []
    assert sorted(results["held_out/misses"]) == [
        "a large green square in the top -> green circle large top",
        "a small blue triangle in the left -> magenta triangle small left"]
    assert results["held_out/all"] == pytest.approx(52 / 54)


def test_reduced_evaluation_covers_both_splits_evenly():
    results = evaluate("shapes", _painter(), OmegaConf.create({}), None, num_samples=20)
    assert results["held_in/count"] == 10 and results["held_out/count"] == 10


def test_a_grey_background_fails_even_under_a_readable_shape():
    held_in, _ = combinations()
    images = _painter(background=90)([prompt(**c) for c in held_in[:12]])
    scores = score_images(images, held_in[:12])
    assert scores["black_background"] == 0.0 and scores["all"] == 0.0


def test_digits_evaluation_of_real_digits_is_near_the_ceiling(cache_dir):
    real, labels = load_digits_with_labels(16, str(cache_dir))
    pools = {d: real.images[labels == d] for d in range(10)}

    def generate(prompts):
        counters = {d: 0 for d in range(10)}
        out = []
        for p in prompts:
            d = next(d for d in range(10) if digit_prompt(d) == p)
            out.append(pools[d][counters[d] % len(pools[d])])
            counters[d] += 1
        return torch.stack(out)

    results = evaluate("digits", generate, OmegaConf.create({"image_size": 16}), str(cache_dir), num_samples=200)
    assert results["accuracy"] > 0.97 and min(results[f"accuracy/{d}"] for d in range(10)) > 0.8
    assert results["fid"] < 5 * max(results["fid_real_vs_real"], 1.0)


def test_unknown_evaluator_and_results_file(tmp_path):
    with pytest.raises(ValueError, match="valid choices: shapes, digits"):
        evaluate(None, _painter(), OmegaConf.create({}), None)
    path = write_results(tmp_path, 300, {"held_in/all": 0.5}, 36, "ddim50_g3")
    assert path.name == "step_00000300_n36_ddim50_g3.json" and json.loads(path.read_text()) == {"held_in/all": 0.5}
