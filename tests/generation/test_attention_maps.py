"""Cross-attention maps and prompt-to-prompt: hooks never change an image they should not change."""
import pytest
import torch

from generation.attention_maps import generate_with_maps, prompt_to_prompt, token_map
from tests.generation.helpers import settings, tiny_denoiser
from tests.generation.test_edits import PROMPTS, text_to_image


@pytest.mark.parametrize("guidance_scale", [1.0, 2.0])
def test_recording_maps_does_not_change_the_images_and_maps_are_distributions(guidance_scale):
    denoiser, s = tiny_denoiser(), settings("dpm_solver_pp_2m", guidance_scale=guidance_scale)
    images, maps, per_res = generate_with_maps(denoiser, PROMPTS, s, seed=2)
    assert torch.equal(images, text_to_image(denoiser, s, seed=2))
    lengths = [denoiser.cache.encoder.token_count(p) for p in PROMPTS]
    assert maps.shape == (2, max(lengths), 8, 8) and list(per_res) == [4]
    assert torch.allclose(maps.sum(1), torch.ones(2, 8, 8), atol=1e-5)
    assert maps[1, lengths[1]:].abs().max() == 0  # padding gets no attention


def test_maps_of_chosen_steps_differ_from_all_steps():
    denoiser, s = tiny_denoiser(), settings()
    _, every, _ = generate_with_maps(denoiser, PROMPTS, s)
    _, first, _ = generate_with_maps(denoiser, PROMPTS, s, steps=[0])
    assert not torch.allclose(every, first)


@pytest.mark.parametrize("sampler", ["ddim", "dpm_solver_pp_2m"])
def test_prompt_to_prompt_with_identical_prompts_is_text_to_image_bitwise(sampler):
    denoiser, s = tiny_denoiser(), settings(sampler)
    edited, params = prompt_to_prompt(denoiser, PROMPTS, PROMPTS, s, seed=1)
    assert torch.equal(edited, text_to_image(denoiser, s, seed=1))
    assert params["shared_tokens"] == [10, 6]


def test_prompt_to_prompt_changes_the_image_and_keeps_it_closer_to_the_source():
    denoiser, s = tiny_denoiser(), settings()
    target = ["a small blue circle in the top left", "a large blue triangle"]
    edited, params = prompt_to_prompt(denoiser, PROMPTS, target, s, seed=1, cross_replace=1.0)
    plain, source = text_to_image(denoiser, s, seed=1, prompts=target), text_to_image(denoiser, s, seed=1)
    assert not torch.equal(edited, plain) and not torch.equal(edited, source)
    distance = lambda a, b: (a.float() - b.float()).abs().mean()
    assert distance(edited, source) < distance(plain, source)
    assert params["inject_steps"] == 6 and params["shared_tokens"] == [10, 6]


def test_token_map():
    src = ["<s>", "a", "red", "circle", "</s>"]
    assert token_map(src, ["<s>", "a", "blue", "circle", "</s>"]) == [(i, i) for i in range(5)]
    assert token_map(src, ["<s>", "a", "big", "red", "circle", "</s>"]) == [(0, 0), (1, 1), (3, 2), (4, 3), (5, 4)]
    assert token_map(src, src) == [(i, i) for i in range(5)]
