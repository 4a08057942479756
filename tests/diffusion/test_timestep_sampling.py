import pytest
import torch

from diffusion.timestep_sampling import sample_timesteps


def _draw(method, n=20000, T=500, seed=0, **kw):
    return sample_timesteps(n, T, torch.Generator().manual_seed(seed), "cpu", method, **kw)


def test_uniform_is_the_plain_randint_draw():
    # the draws of earlier runs must not change: resume and old configs replay exactly
    assert torch.equal(_draw("uniform", n=64), torch.randint(0, 500, (64,), generator=torch.Generator().manual_seed(0)))


def test_logit_normal_stays_in_range_and_puts_more_mass_in_the_middle():
    t = _draw("logit_normal")
    assert t.min() >= 0 and t.max() <= 499 and t.dtype == torch.long
    middle = ((t >= 125) & (t < 375)).float().mean()
    assert middle > 0.6  # uniform: 0.5; N(0, 1) through the sigmoid: ~0.72
    assert abs(t.float().mean() / 499 - 0.5) < 0.02


def test_logit_normal_mean_moves_mass_to_noisier_timesteps():
    assert _draw("logit_normal", mean=1.0).float().mean() > _draw("logit_normal", mean=0.0).float().mean() + 50


def test_same_seed_same_draws_and_unknown_method_is_one_line():
    assert torch.equal(_draw("logit_normal", seed=3), _draw("logit_normal", seed=3))
    with pytest.raises(ValueError, match="unknown timestep_sampling 'beta'; valid choices: uniform, logit_normal"):
        _draw("beta")
