"""Self-conditioning (Chen et al. 2022): the network's second input, in training, sampling and editing."""
import pytest
import torch

from diffusion.forward import to_x0_eps
from diffusion.guidance import conditional_model_fn, guided_model_fn
from diffusion.inversion import ddim_invert
from diffusion.losses import training_losses
from diffusion.samplers import SAMPLERS, get_sampler
from diffusion.schedules import get_schedule
from generation.editing import img2img
from generation.sampling import fixed_noise, sample_images
from generation.trajectory import rewind, sample_with_trajectory
from tests.conftest import text_condition, tiny_unet
from tests.generation.helpers import settings, tiny_denoiser

PROMPTS = ["a small red circle in the top left", "a large blue square"]


def condition(batch):
    context, mask, pooled = text_condition(batch)
    return {"context": context, "context_mask": mask, "pooled": pooled}


def test_the_unet_reads_its_estimate_and_none_means_zeros():
    model, x, t = tiny_unet(self_condition=True), torch.randn(2, 3, 8, 8), torch.tensor([10, 90])
    cond = condition(2)
    none = model(x, t, **cond)
    assert torch.equal(none, model(x, t, **cond, x_self_cond=torch.zeros_like(x)))
    assert not torch.allclose(none, model(x, t, **cond, x_self_cond=torch.randn_like(x)), atol=1e-4)
    assert model.conv_in.in_channels == 6
    with pytest.raises(ValueError, match="self_condition"):
        tiny_unet()(x, t, **cond, x_self_cond=torch.zeros_like(x))


class Spy:
    """Wraps a network and records the x_self_cond of every call."""

    self_condition = True

    def __init__(self, model):
        self.model, self.seen = model, []

    def __call__(self, xt, t, **kwargs):
        self.seen.append((xt.shape[0], kwargs.get("x_self_cond")))
        return self.model(xt, t, **kwargs)


def test_training_feeds_the_detached_first_pass_estimate_to_the_masked_samples_only():
    schedule, model = get_schedule("cosine", 100), tiny_unet(self_condition=True).train()
    x0, eps, t = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8), torch.tensor([5, 30, 60, 95])
    mask, cond, spy = torch.tensor([True, False, True, False]), condition(4), Spy(model)
    losses = training_losses(spy, schedule, x0, t, eps, "v", None, mask, True, **cond)
    (first_batch, first_input), (_, estimate) = spy.seen
    assert first_batch == 2 and first_input is None and not estimate.requires_grad
    xt = schedule.alpha_bar[t].sqrt().view(-1, 1, 1, 1) * x0 + (1 - schedule.alpha_bar[t]).sqrt().view(-1, 1, 1, 1) * eps
    with torch.no_grad():
        picked = {k: v[mask] for k, v in cond.items()}
        expected = to_x0_eps(schedule, model(xt[mask].float(), t[mask], **picked), xt[mask].float(), t[mask], "v", True)[0]
    assert torch.allclose(estimate[mask], expected, atol=1e-5) and torch.equal(estimate[~mask], torch.zeros_like(estimate[~mask]))
    assert estimate.abs().max() <= 1.0  # clipped as the samplers clip in pixel space
    none = training_losses(model, schedule, x0, t, eps, "v", None, torch.zeros(4, dtype=torch.bool), **cond)
    assert torch.equal(none, training_losses(model, schedule, x0, t, eps, "v", None, x_self_cond=torch.zeros_like(x0), **cond))
    assert not torch.allclose(losses[mask], none[mask]) and torch.allclose(losses[~mask], none[~mask], atol=1e-6)
    losses.mean().backward()
    assert model.conv_in.weight.grad[:, 3:].abs().sum() > 0  # the estimate's channels learn


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("guided", [False, True])
def test_every_sampler_gives_the_network_the_previous_steps_x0(name, guided):
    schedule, spy = get_schedule("cosine", 100), Spy(tiny_unet(self_condition=True))
    cond = condition(2)
    model_fn = (guided_model_fn(spy, cond, {k: v[:1] * 0 for k, v in cond.items()}, 2.0) if guided
                else conditional_model_fn(spy, cond))
    assert model_fn.self_conditioned
    x0s = []
    get_sampler(name)(model_fn, torch.randn(2, 3, 8, 8), schedule, prediction_type="v", num_steps=5,
                      generator=torch.Generator().manual_seed(0), callback=lambda step, t, xt, x0: x0s.append(x0))
    seen = [s for _, s in spy.seen]
    assert len(seen) == 5 and seen[0] is None
    for before, given in zip(x0s, seen[1:]):
        assert torch.equal(given, torch.cat([before, before]) if guided else before)


def test_a_network_without_self_conditioning_never_receives_an_estimate():
    model = tiny_unet()
    model_fn = conditional_model_fn(model, condition(2))
    assert not model_fn.self_conditioned
    out = get_sampler("dpm_solver_pp_2m")(model_fn, torch.randn(2, 3, 8, 8), get_schedule("cosine", 100),
                                          prediction_type="v", num_steps=4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name,options", [("ddim", {}), ("ddpm", {}), ("dpm_solver_pp_2m", {})])
def test_rewind_and_img2img_at_strength_one_stay_bitwise_with_a_self_conditioned_network(name, options):
    denoiser, s = tiny_denoiser(self_condition=True), settings(name, **options)
    noise = fixed_noise(len(PROMPTS), *denoiser.shape, 3, denoiser.device)
    reference = sample_images(denoiser.model, denoiser.schedule, denoiser.prediction_type, denoiser.cache, PROMPTS, s,
                              noise, generator=torch.Generator().manual_seed(3))
    images, trajectory = sample_with_trajectory(denoiser, PROMPTS, s, seed=3)
    assert torch.equal(images, reference)
    assert bool(trajectory.has_previous[1:].all())  # the estimate each step read is in the trajectory
    for step, index in ((1, 0), (4, 1)):
        assert torch.equal(rewind(denoiser, trajectory, step, index=index)[0], images[index : index + 1]), step
    edited, _ = img2img(denoiser, torch.rand(2, 3, 8, 8) * 2 - 1, PROMPTS, s, strength=1.0, seed=3)
    assert torch.equal(edited, reference)


def test_inversion_passes_each_calls_estimate_to_the_next():
    spy = Spy(tiny_unet(self_condition=True))
    model_fn = conditional_model_fn(spy, condition(2))
    latents = ddim_invert(model_fn, torch.rand(2, 3, 8, 8) * 2 - 1, get_schedule("cosine", 100), prediction_type="v",
                          num_steps=4)
    seen = [s for _, s in spy.seen]
    assert len(latents) == 5 and seen[0] is None and all(s is not None and s.shape == (2, 3, 8, 8) for s in seen[1:])
