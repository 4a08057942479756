import pytest
import torch

from diffusion.forward import PREDICTION_TYPES, target, to_x0_eps
from diffusion.samplers import SAMPLERS, ddim, ddpm, get_sampler
from diffusion.schedules import get_schedule
from diffusion.timesteps import SPACINGS, sampling_timesteps


def oracle(schedule, x0, prediction_type):
    """A model_fn that knows the clean image: from x_t it returns the exact target for x0."""
    def model_fn(xt, t):
        a = schedule.alpha_bar[t].float().sqrt().view(-1, 1, 1, 1)
        s = (1 - schedule.alpha_bar[t]).float().sqrt().view(-1, 1, 1, 1)
        return target(schedule, x0, t, (xt - a * x0) / s, prediction_type)
    return model_fn


def linear_model(seed=0):
    """A fixed, input-dependent stand-in for a network (not an oracle)."""
    w = 0.9 * torch.eye(3) + 0.1 * torch.randn(3, 3, generator=torch.Generator().manual_seed(seed))
    return lambda xt, t: torch.einsum("oc,bchw->bohw", w, xt) + 1e-3 * t.float().view(-1, 1, 1, 1)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_oracle_denoiser_recovers_x0(rng, sampler, prediction_type, spacing):
    schedule = get_schedule("cosine", 200)
    x0 = torch.rand(4, 3, 8, 8, generator=rng) * 1.6 - 0.8
    noise = torch.randn(4, 3, 8, 8, generator=rng)
    out = get_sampler(sampler)(oracle(schedule, x0, prediction_type), noise, schedule, prediction_type=prediction_type,
                               num_steps=25, spacing=spacing, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, x0, atol=1e-3)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_zero_terminal_snr_with_v_prediction_recovers_x0(rng, sampler):
    schedule = get_schedule("linear", 100, zero_terminal_snr=True)
    x0 = torch.rand(2, 3, 4, 4, generator=rng) - 0.5
    out = get_sampler(sampler)(oracle(schedule, x0, "v"), torch.randn(2, 3, 4, 4, generator=rng), schedule,
                               prediction_type="v", num_steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all() and torch.allclose(out, x0, atol=1e-3)


@pytest.mark.parametrize("clip_x0", [False, True])
def test_ddim_eta_one_is_ddpm_fixed_small(rng, clip_x0):
    schedule, noise = get_schedule("linear", 100), torch.randn(3, 3, 8, 8, generator=rng)
    kwargs = dict(prediction_type="eps", num_steps=20, spacing="linspace", clip_x0=clip_x0)
    a = ddim(linear_model(), noise, schedule, eta=1.0, generator=torch.Generator().manual_seed(5), **kwargs)
    b = ddpm(linear_model(), noise, schedule, variance="fixed_small", generator=torch.Generator().manual_seed(5), **kwargs)
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_same_seed_same_samples_other_seed_other_samples(rng, sampler):
    schedule, noise = get_schedule("cosine", 100), torch.randn(2, 3, 8, 8, generator=rng)
    run = lambda seed, **kw: get_sampler(sampler)(linear_model(), noise, schedule, num_steps=10, generator=torch.Generator().manual_seed(seed), **kw)
    assert torch.equal(run(0), run(0))
    stochastic = {"ddim": {"eta": 1.0}, "ddpm": {}, "dpm_solver_pp_2m": None, "consistency": {}}[sampler]
    if stochastic is not None:
        assert not torch.allclose(run(0, **stochastic), run(1, **stochastic))


def test_callback_sees_every_step_with_consistent_x0(rng):
    schedule, noise, seen = get_schedule("cosine", 100), torch.randn(2, 3, 8, 8, generator=rng), []
    model_fn = linear_model()

    def callback(step, t, xt, x0):
        expected, _ = to_x0_eps(schedule, model_fn(xt, torch.full((2,), t)), xt, torch.full((2,), t), "eps", clip_x0=True)
        seen.append((step, t, torch.allclose(x0, expected, atol=1e-6)))

    ddim(model_fn, noise, schedule, num_steps=7, callback=callback)
    assert [s for s, _, _ in seen] == list(range(7))
    assert [t for _, t, _ in seen] == sampling_timesteps(100, 7, "trailing").tolist()
    assert all(ok for _, _, ok in seen)


def test_ddpm_full_chain_matches_posterior_formula_on_one_step(rng):
    schedule = get_schedule("linear", 50)
    x, model_fn = torch.randn(1, 3, 4, 4, generator=rng), linear_model()
    # A one-step "chain" from t = 0 returns the posterior mean at t = 0, which is x0 itself.
    x0, _ = to_x0_eps(schedule, model_fn(x, torch.zeros(1, dtype=torch.long)), x, torch.zeros(1, dtype=torch.long), "eps", True)
    out = ddpm(model_fn, x, schedule, num_steps=1, spacing="leading")
    assert torch.allclose(out, x0, atol=1e-6)


def test_dpm_solver_beats_ddim_at_few_steps_on_a_gaussian(rng):
    """On data x0 ~ N(0, c^2) the exact eps-predictor is linear, eps = s x_t / (a^2 c^2 + s^2). With 8 steps
    a second-order solver lands closer than DDIM (first order) to the 1000-step solution."""
    schedule, c = get_schedule("cosine", 1000), 0.5
    def exact(xt, t):
        ab = schedule.alpha_bar[t].float().view(-1, 1, 1, 1)
        return (1 - ab).sqrt() * xt / (ab * c**2 + 1 - ab)
    noise = torch.randn(64, 1, 4, 4, generator=rng)
    errs = {}
    for name in ("ddim", "dpm_solver_pp_2m"):
        long = get_sampler(name)(exact, noise, schedule, num_steps=1000, clip_x0=False)
        short = get_sampler(name)(exact, noise, schedule, num_steps=8, clip_x0=False)
        errs[name] = (short - long).abs().mean().item()
    assert errs["dpm_solver_pp_2m"] < errs["ddim"]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("T", [50, 100, 500, 1000])
def test_spacings_give_distinct_decreasing_in_range_steps(spacing, T):
    for steps in range(1, T + 1):
        ts = sampling_timesteps(T, steps, spacing)
        assert len(ts) == steps and torch.all(ts[:-1] > ts[1:]), (T, steps)
        assert ts.min() >= 0 and ts.max() <= T - 1, (T, steps)


def test_spacing_endpoints():
    assert sampling_timesteps(1000, 10, "trailing")[0] == 999
    assert sampling_timesteps(1000, 10, "leading").tolist() == list(range(900, -1, -100))
    assert sampling_timesteps(1000, 10, "linspace")[[0, -1]].tolist() == [999, 0]


def test_bad_sampler_arguments_are_refused():
    with pytest.raises(ValueError, match="num_steps must be between 1 and the schedule's T=100, got 101"):
        sampling_timesteps(100, 101)
    with pytest.raises(ValueError, match="'dpm'.*ddim, ddpm, dpm_solver_pp_2m"):
        get_sampler("dpm")
    with pytest.raises(ValueError, match="'middle'.*linspace, leading, trailing"):
        sampling_timesteps(100, 10, "middle")
