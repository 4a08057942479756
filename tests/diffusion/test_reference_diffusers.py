"""Reference checks against diffusers' schedulers (a development extra; skipped when it is absent)."""
import pytest
import torch

from diffusion.samplers import ddim
from diffusion.schedules import get_schedule
from diffusion.timesteps import sampling_timesteps

diffusers = pytest.importorskip("diffusers")


def test_linear_and_cosine_match_diffusers_at_T1000():
    linear = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    cosine = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    assert torch.allclose(get_schedule("linear", 1000).alpha_bar.float(), linear.alphas_cumprod, atol=1e-6)
    assert torch.allclose(get_schedule("cosine", 1000).alpha_bar.float(), cosine.alphas_cumprod, atol=1e-6)


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_spacings_match_diffusers(spacing):
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing, steps_offset=0)
    scheduler.set_timesteps(50)
    assert sampling_timesteps(1000, 50, spacing).tolist() == scheduler.timesteps.tolist()


def test_ddim_trajectory_matches_diffusers():
    schedule = get_schedule("cosine", 1000)
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                        timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True,
                                        prediction_type="v_prediction")
    scheduler.set_timesteps(20)
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * 0.2
    model_fn = lambda x, t: torch.einsum("oc,bchw->bohw", w, x)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = ddim(model_fn, x, schedule, prediction_type="v", num_steps=20, spacing="trailing", clip_x0=False)
    theirs = x
    for t in scheduler.timesteps:
        theirs = scheduler.step(model_fn(theirs, t.expand(2)), t, theirs).prev_sample
    assert torch.allclose(ours, theirs, atol=1e-4)


def _linear_model():
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * 0.2
    return lambda x, t: torch.einsum("oc,bchw->bohw", w, x)


def test_dpm_solver_pp_2m_trajectory_matches_diffusers():
    from diffusion.samplers import dpm_solver_pp_2m

    schedule = get_schedule("cosine", 1000)
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
        algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing", final_sigmas_type="zero",
        lower_order_final=True, thresholding=False)
    scheduler.set_timesteps(20)
    model_fn, x = _linear_model(), torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = dpm_solver_pp_2m(model_fn, x, schedule, prediction_type="v", num_steps=20, spacing="trailing", clip_x0=False)
    theirs = x
    for t in scheduler.timesteps:
        theirs = scheduler.step(model_fn(theirs, t.expand(2)), t, theirs).prev_sample
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_ddpm_trajectory_matches_diffusers_with_the_same_noise(variance):
    from diffusion.samplers import ddpm

    schedule = get_schedule("linear", 50)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=50, beta_start=0.002, beta_end=0.4, beta_schedule="linear",
                                        variance_type=variance, clip_sample=False, timestep_spacing="trailing")
    scheduler.set_timesteps(50)
    model_fn, x = _linear_model(), torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = ddpm(model_fn, x, schedule, prediction_type="eps", num_steps=None, clip_x0=False, variance=variance,
                generator=torch.Generator().manual_seed(7))
    g, theirs = torch.Generator().manual_seed(7), x
    for t in scheduler.timesteps:
        theirs = scheduler.step(model_fn(theirs, t.expand(2)), t, theirs, generator=g).prev_sample
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4)  # the stand-in model lets values grow large
