import pytest
import torch

from diffusion.forward import PREDICTION_TYPES, q_sample, target, to_x0_eps
from diffusion.losses import min_snr_weight, training_losses
from diffusion.schedules import get_schedule


def _batch(rng, n=16):
    x0 = torch.rand(n, 3, 8, 8, generator=rng) * 2 - 1
    return x0, torch.randn(n, 3, 8, 8, generator=rng), torch.randint(0, 1000, (n,), generator=rng)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_target_converts_back_to_x0_and_eps(rng, prediction_type):
    schedule = get_schedule("cosine", 1000)
    x0, eps, t = _batch(rng)
    xt = q_sample(schedule, x0, t, eps)
    x0_hat, eps_hat = to_x0_eps(schedule, target(schedule, x0, t, eps, prediction_type), xt, t, prediction_type)
    assert torch.allclose(x0_hat, x0, atol=2e-3) and torch.allclose(eps_hat, eps, atol=2e-3)


def test_q_sample_matches_closed_form(rng):
    schedule = get_schedule("linear", 1000)
    x0, eps, t = _batch(rng)
    ab = schedule.alpha_bar[t].float().view(-1, 1, 1, 1)
    assert torch.allclose(q_sample(schedule, x0, t, eps), ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-6)


def test_v_is_a_rotation_of_x0_and_eps(rng):
    schedule = get_schedule("cosine", 1000)
    x0, eps, t = _batch(rng)
    v, xt = target(schedule, x0, t, eps, "v"), q_sample(schedule, x0, t, eps)
    assert torch.allclose(v.pow(2) + xt.pow(2), x0.pow(2) + eps.pow(2), atol=1e-5)


def test_clipping_keeps_x0_in_range_and_eps_consistent(rng):
    schedule = get_schedule("cosine", 1000)
    xt, out, t = torch.randn(8, 3, 4, 4, generator=rng) * 3, torch.randn(8, 3, 4, 4, generator=rng) * 3, torch.full((8,), 900)
    x0, eps = to_x0_eps(schedule, out, xt, t, "v", clip_x0=True)
    assert x0.abs().max() <= 1
    assert torch.allclose(q_sample(schedule, x0, t, eps), xt, atol=1e-5)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_oracle_model_has_zero_loss_and_zero_model_does_not(rng, prediction_type):
    schedule = get_schedule("cosine", 1000)
    x0, eps, t = _batch(rng)
    oracle = lambda xt, t_: target(schedule, x0, t_, eps, prediction_type)
    losses = training_losses(oracle, schedule, x0, t, eps, prediction_type)
    assert losses.shape == (16,) and losses.max() < 1e-10
    zero = training_losses(lambda xt, t_: torch.zeros_like(xt), schedule, x0, t, eps, prediction_type)
    expected = target(schedule, x0, t, eps, prediction_type).pow(2).mean(dim=(1, 2, 3))
    assert torch.allclose(zero, expected)


def test_model_kwargs_reach_the_model(rng):
    schedule, seen = get_schedule("linear", 1000), {}
    x0, eps, t = _batch(rng, 2)
    training_losses(lambda xt, t_, **kw: seen.update(kw) or xt, schedule, x0, t, eps, context="c")
    assert seen == {"context": "c"}


def test_min_snr_weights_follow_hang_et_al():
    schedule, gamma = get_schedule("cosine", 1000), 5.0
    t = torch.tensor([0, 300, 999])
    snr = schedule.snr[t]
    torch.testing.assert_close(min_snr_weight(schedule, t, "eps", gamma), (snr.clamp(max=gamma) / snr).float())
    torch.testing.assert_close(min_snr_weight(schedule, t, "x0", gamma), snr.clamp(max=gamma).float())
    torch.testing.assert_close(min_snr_weight(schedule, t, "v", gamma), (snr.clamp(max=gamma) / (snr + 1)).float())
    assert min_snr_weight(schedule, t, "eps", gamma)[0] < 1 and min_snr_weight(schedule, t, "eps", gamma)[-1] == 1


def test_min_snr_weight_is_finite_at_zero_terminal_snr():
    schedule = get_schedule("cosine", 100, zero_terminal_snr=True)
    t = torch.tensor([99])
    for p in PREDICTION_TYPES:
        assert torch.isfinite(min_snr_weight(schedule, t, p, 5.0)).all()


def test_unknown_prediction_type_lists_choices(rng):
    with pytest.raises(ValueError, match="'noise'.*eps, x0, v"):
        training_losses(lambda xt, t: xt, get_schedule("linear", 100), *_batch(rng, 2)[:1], torch.zeros(2, dtype=torch.long), torch.zeros(2, 3, 8, 8), "noise")
