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
    with pytest.raises(ValueError, match="unknown timestep_sampling 'beta'; valid choices: uniform, stratified, logit_normal"):
        _draw("beta")


def test_stratified_puts_one_draw_in_each_nth_of_the_schedule_in_a_random_order():
    for seed in range(5):
        t = _draw("stratified", n=32, seed=seed)
        strata = (t * 32) // 500  # which 32nd of the schedule each draw falls in
        assert sorted(strata.tolist()) == list(range(32))
        assert not torch.equal(strata, torch.sort(strata).values)  # not handed out in order of t


def test_stratified_draws_are_each_uniform():
    # one draw per batch, over many batches: the marginal of every position is uniform on [0, T)
    t = torch.stack([_draw("stratified", n=8, seed=s) for s in range(4000)])
    for position in (0, 7):
        counts = torch.bincount(t[:, position] // 50, minlength=10).float()
        assert counts.min() > 0.8 * 400 and counts.max() < 1.2 * 400
    assert abs(t.float().mean() / 499 - 0.5) < 0.01
