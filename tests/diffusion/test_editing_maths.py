"""Editing maths on plain tensors: img2img, inpainting (blend, RePaint), DDIM inversion.

The oracle model_fn knows the clean image, so every correct chain must land on it; the linear model is
a fixed stand-in for a network, for the bitwise equivalences."""
import math

import pytest
import torch

from diffusion.forward import PREDICTION_TYPES, q_sample, target
from diffusion.img2img import img2img, start_step
from diffusion.inpainting import blend, paste_back, repaint, repaint_schedule
from diffusion.inversion import ddim_invert
from diffusion.samplers import SAMPLERS, ddim, get_sampler
from diffusion.schedules import get_schedule
from diffusion.timesteps import sampling_timesteps
from tests.diffusion.test_samplers import linear_model, oracle

SCHEDULE = get_schedule("cosine", 100)


def images(rng, batch=2):
    return torch.rand(batch, 3, 8, 8, generator=rng) * 1.6 - 0.8, torch.randn(batch, 3, 8, 8, generator=rng)


def seeded(seed=3):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("strength", [0.0, 0.25, 0.6, 1.0])
def test_img2img_with_an_oracle_returns_its_image(rng, sampler, prediction_type, strength):
    x0, noise = images(rng)
    out, _ = img2img(get_sampler(sampler), oracle(SCHEDULE, x0, prediction_type), x0, noise, SCHEDULE, strength=strength,
                     num_steps=10, prediction_type=prediction_type, generator=seeded())
    assert torch.allclose(out, x0, atol=1e-3)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_img2img_at_strength_one_is_text_to_image_bitwise(rng, sampler):
    x0, noise = images(rng)
    out, start = img2img(get_sampler(sampler), linear_model(), x0, noise, SCHEDULE, strength=1.0, num_steps=10,
                         generator=seeded())
    plain = get_sampler(sampler)(linear_model(), noise, SCHEDULE, num_steps=10, generator=seeded())
    assert start == 0 and torch.equal(out, plain)


@pytest.mark.parametrize("strength,num_steps,start", [(0.0, 10, 10), (0.6, 10, 4), (0.55, 20, 9), (1.0, 7, 0), (0.04, 10, 10)])
def test_img2img_noises_to_exactly_the_first_step_it_runs(rng, strength, num_steps, start):
    x0, noise = images(rng)
    seen = []
    out, got = img2img(ddim, linear_model(), x0, noise, SCHEDULE, strength=strength, num_steps=num_steps,
                       callback=lambda step, t, xt, x0_pred: seen.append((step, t, xt)))
    assert got == start == start_step(num_steps, strength)
    timesteps = sampling_timesteps(100, num_steps).tolist()
    assert [(s, t) for s, t, _ in seen] == list(zip(range(start, num_steps), timesteps[start:]))
    if 0 < start < num_steps:
        assert torch.equal(seen[0][2], q_sample(SCHEDULE, x0, torch.full((2,), timesteps[start]), noise))
    if start == num_steps:
        assert torch.equal(out, x0)


def test_img2img_strength_outside_zero_one_is_refused(rng):
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got 1.5"):
        img2img(ddim, linear_model(), *images(rng), SCHEDULE, strength=1.5, num_steps=10)


def masks():
    half = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    half[..., :, 4:] = True
    return {"white": torch.ones(1, 1, 8, 8, dtype=torch.bool), "black": torch.zeros(1, 1, 8, 8, dtype=torch.bool), "half": half}


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("method", ["blend", "repaint"])
def test_inpainting_all_white_is_text_to_image_and_all_black_is_the_input(rng, sampler, method):
    known, noise = images(rng)
    fn = get_sampler(sampler)
    run = lambda mask: ((blend(fn, linear_model(), noise, known, mask, SCHEDULE, num_steps=10, generator=seeded(),
                               blend_generator=seeded(9)))
                        if method == "blend" else
                        repaint(fn, linear_model(), noise, known, mask, SCHEDULE, num_steps=10, jump_length=1,
                                jump_n_sample=1, generator=seeded(), blend_generator=seeded(9)))
    assert torch.equal(run(masks()["white"]), fn(linear_model(), noise, SCHEDULE, num_steps=10, generator=seeded()))
    assert torch.equal(run(masks()["black"]), known)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_repaint_without_jumps_is_blend_bitwise(rng, sampler):
    known, noise = images(rng)
    mask, fn = masks()["half"], get_sampler(sampler)
    a = blend(fn, linear_model(), noise, known, mask, SCHEDULE, num_steps=10, generator=seeded(), blend_generator=seeded(9))
    b = repaint(fn, linear_model(), noise, known, mask, SCHEDULE, num_steps=10, jump_length=3, jump_n_sample=1,
                generator=seeded(), blend_generator=seeded(9))
    assert torch.equal(a, b)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_inpainting_with_an_oracle_keeps_the_known_pixels_and_paste_back_is_exact(rng, prediction_type):
    known, noise = images(rng)
    mask = masks()["half"]
    out = repaint(ddim, oracle(SCHEDULE, known, prediction_type), noise, known, mask, SCHEDULE, num_steps=10,
                  jump_length=2, jump_n_sample=3, prediction_type=prediction_type, blend_generator=seeded(9))
    assert torch.allclose(out, known, atol=1e-3)
    pasted = paste_back(out + 1, known, mask)
    assert torch.equal(pasted[..., :4], known[..., :4]) and torch.equal(pasted[..., 4:], out[..., 4:] + 1)


@pytest.mark.parametrize("num_steps,jump_length,jump_n_sample", [(10, 1, 1), (10, 3, 1), (10, 1, 2), (10, 3, 4), (25, 10, 10),
                                                                  (7, 7, 3), (50, 10, 2)])
def test_repaint_schedule(num_steps, jump_length, jump_n_sample):
    positions = repaint_schedule(num_steps, jump_length, jump_n_sample)
    jumps = math.ceil(max(num_steps - jump_length, 0) / jump_length)
    assert len(positions) == num_steps + 1 + 2 * jump_length * (jump_n_sample - 1) * jumps
    assert positions[0] == 0 and positions[-1] == num_steps and max(positions) == num_steps and min(positions) == 0
    assert all(abs(b - a) == 1 for a, b in zip(positions, positions[1:]))
    if jump_n_sample == 1:
        assert positions == list(range(num_steps + 1))


def test_repaint_schedule_refuses_zero_jumps():
    with pytest.raises(ValueError, match="jump_length and jump_n_sample must be >= 1, got 0 and 2"):
        repaint_schedule(10, 0, 2)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_inversion_then_regeneration_with_an_oracle_returns_its_image(rng, sampler, prediction_type):
    x0, _ = images(rng)
    model_fn = oracle(SCHEDULE, x0, prediction_type)
    latents = ddim_invert(model_fn, x0, SCHEDULE, prediction_type=prediction_type, num_steps=10)
    assert len(latents) == 11 and torch.equal(latents[-1], x0)
    out = get_sampler(sampler)(model_fn, latents[0], SCHEDULE, prediction_type=prediction_type, num_steps=10,
                               generator=seeded())
    assert torch.allclose(out, x0, atol=1e-3)


def gaussian_model(schedule, prediction_type, c=0.5):
    """The exact denoiser of data x0 ~ N(0, c^2), eps = s x_t / (a^2 c^2 + s^2), in any output type: a
    smooth model that, unlike the oracle, does not know x0, so only a correct inversion gives x0 back."""
    def model_fn(xt, t):
        ab = schedule.alpha_bar[t].float().view(-1, 1, 1, 1)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        eps = s * xt / (ab * c**2 + 1 - ab)
        return target(schedule, (xt - s * eps) / a, t, eps, prediction_type)
    return model_fn


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_ddim_inversion_is_the_inverse_of_ddim_for_every_prediction_type(rng, prediction_type):
    schedule = get_schedule("cosine", 1000)
    x0 = 0.5 * torch.randn(4, 1, 4, 4, generator=rng)
    model_fn = gaussian_model(schedule, prediction_type)
    errors = []
    for num_steps in (10, 100):
        latents = ddim_invert(model_fn, x0, schedule, prediction_type=prediction_type, num_steps=num_steps)
        out = ddim(model_fn, latents[0], schedule, prediction_type=prediction_type, num_steps=num_steps, clip_x0=False)
        errors.append((out - x0).abs().max().item())
    # First order: ten times the steps, a tenth of the error (0.29 -> 0.031 for every prediction type).
    assert errors[1] < 0.04 and errors[1] < errors[0] / 5
