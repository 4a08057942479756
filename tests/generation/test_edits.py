"""Editing through a Denoiser: the bitwise equalities with text-to-image, paste-back, rewinds."""
import pytest
import torch

from generation.editing import img2img, inpaint
from generation.sampling import fixed_noise, sample_images
from generation.trajectory import load_trajectory, rewind, sample_with_trajectory, save_trajectory
from schemas.check import ConfigError
from tests.generation.helpers import STOCHASTIC, settings, tiny_denoiser

PROMPTS = ["a small red circle in the top left", "a large blue square"]
SAMPLERS = [("ddim", {}), ("ddim", {"eta": 1.0}), ("ddpm", {}), ("dpm_solver_pp_2m", {})]


def text_to_image(denoiser, sampler_settings, seed=0, prompts=PROMPTS):
    noise = fixed_noise(len(prompts), *denoiser.shape, seed, denoiser.device)
    return sample_images(denoiser.model, denoiser.schedule, denoiser.prediction_type, denoiser.cache, prompts,
                         sampler_settings, noise, generator=torch.Generator().manual_seed(seed))


def inputs(seed=5):
    return torch.rand(len(PROMPTS), 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("name,options", SAMPLERS)
def test_img2img_strength_one_and_inpainting_all_white_are_text_to_image_bitwise(name, options):
    denoiser, s = tiny_denoiser(), settings(name, **options)
    reference = text_to_image(denoiser, s, seed=4)
    edited, params = img2img(denoiser, inputs(), PROMPTS, s, strength=1.0, seed=4)
    assert torch.equal(edited, reference) and params["start_step"] == 0 and params["steps_run"] == 6
    white = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    for method in ("blend", "repaint"):
        painted, _ = inpaint(denoiser, inputs(), white, PROMPTS, s, method=method, jump_length=2, jump_n_sample=1, seed=4)
        assert torch.equal(painted, reference), method


def test_img2img_strength_zero_and_inpainting_all_black_return_the_input_and_paste_back_is_exact():
    denoiser, s = tiny_denoiser(), settings()
    images = (inputs() * 127.5).round() / 127.5  # on the uint8 grid, so that to_uint8 is exact
    expected = ((images + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(img2img(denoiser, images, PROMPTS, s, strength=0.0)[0], expected)
    black = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    assert torch.equal(inpaint(denoiser, images, black, PROMPTS, s, paste_back=False)[0], expected)
    half = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    half[..., 2:6, 2:6] = True
    for method in ("blend", "repaint"):
        out, params = inpaint(denoiser, images, half, PROMPTS, s, method=method, jump_length=2, jump_n_sample=2)
        assert torch.equal(out[..., ~half[0, 0]], expected[..., ~half[0, 0]]), method
        assert not torch.equal(out, expected) and params["mask_fraction_regenerated"] == 0.25
    assert params["model_calls"] == 6 + 2 * 2  # RePaint: 6 steps and one jump of 2 back at 2 of its positions


@pytest.mark.parametrize("name,options", SAMPLERS)
def test_rewind_with_the_same_prompt_and_seed_reproduces_the_original_bitwise(tmp_path, name, options):
    denoiser, s = tiny_denoiser(), settings(name, **options)
    images, trajectory = sample_with_trajectory(denoiser, PROMPTS, s, seed=3)
    assert torch.equal(images, text_to_image(denoiser, s, seed=3))
    trajectory, _ = load_trajectory(save_trajectory(trajectory, tmp_path / "trajectory"))
    for step, index in ((0, 0), (2, 1), (5, 0)):
        again, params = rewind(denoiser, trajectory, step, index=index)
        assert torch.equal(again, images[index : index + 1]), (step, index)
    again, _ = rewind(denoiser, trajectory, 3, PROMPTS[1], index=1, seed=3)
    assert torch.equal(again, images[1:2]) and params["steps_run"] == 1
    other, _ = rewind(denoiser, trajectory, 1, "a large green triangle", index=0)
    assert not torch.equal(other, images[:1])


def test_rewind_refuses_steps_and_indices_outside_the_trajectory():
    denoiser = tiny_denoiser()
    _, trajectory = sample_with_trajectory(denoiser, PROMPTS, settings(num_steps=4))
    with pytest.raises(ConfigError, match=r"step=4 is beyond the trajectory's 4 steps; valid steps: 0..3"):
        rewind(denoiser, trajectory, 4)
    with pytest.raises(ConfigError, match=r"index=2 is not an image of the trajectory; valid indices: 0..1"):
        rewind(denoiser, trajectory, 1, index=2)
    with pytest.raises(ConfigError, match=r"renoise_step=3 must be an earlier step than step=2"):
        rewind(denoiser, trajectory, 2, renoise_step=3)


def test_rewind_with_renoising_runs_from_the_earlier_step():
    denoiser = tiny_denoiser()
    images, trajectory = sample_with_trajectory(denoiser, PROMPTS, settings(num_steps=6))
    out, params = rewind(denoiser, trajectory, 4, renoise_step=1, seed=9)
    assert params["start_step"] == 1 and params["steps_run"] == 5 and not torch.equal(out, images[:1])


def test_negative_prompt_inversion_reconstructs_as_guidance_one_does_and_plain_drifts():
    """With target = source, negative-prompt inversion's regeneration is the guidance-1 chain whatever the
    guidance; plain inversion at guidance 3 is another chain, so it reconstructs worse."""
    from generation.inversion import invert_and_regenerate

    denoiser = tiny_denoiser("v")
    images = inputs() * 0.5
    results = {}
    for method, scale in (("plain", 1.0), ("negative_prompt", 3.0), ("plain", 3.0)):
        out, params = invert_and_regenerate(denoiser, images, PROMPTS, None, settings(num_steps=20, guidance_scale=scale),
                                            method=method)
        results[method, scale] = (out, sum(params["psnr_to_input"]) / 2)
    assert (results["negative_prompt", 3.0][0].int() - results["plain", 1.0][0].int()).abs().max() <= 1
    assert results["plain", 3.0][1] < results["negative_prompt", 3.0][1]
    with pytest.raises(ValueError, match="unknown inversion method 'null'; valid choices: plain, negative_prompt"):
        invert_and_regenerate(denoiser, images, PROMPTS, None, settings(), method="null")
