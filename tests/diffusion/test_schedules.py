import math

import pytest
import torch

from diffusion.schedules import SCHEDULES, get_schedule, rescale_zero_terminal_snr


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("T", [50, 500, 1000])
def test_alpha_bar_decreases_within_unit_interval(name, T):
    s = get_schedule(name, T)
    assert s.betas.dtype == torch.float64 and s.alpha_bar.dtype == torch.float64
    assert len(s.betas) == len(s.alpha_bar) == T
    assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])
    assert 0 < s.alpha_bar[-1] < s.alpha_bar[0] < 1
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas, 0))
    assert torch.all(s.snr[1:] < s.snr[:-1])


def test_linear_T1000_is_ddpm_linspace():
    s = get_schedule("linear", 1000)
    assert torch.equal(s.betas, torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))


@pytest.mark.parametrize("T", [50, 100, 500])
def test_linear_is_scaled_so_short_chains_end_near_noise(T):
    s = get_schedule("linear", T)
    assert s.betas[0].item() == pytest.approx(1e-4 * 1000 / T)
    assert s.betas[-1].item() == pytest.approx(0.02 * 1000 / T)
    assert s.alpha_bar[-1] < 1e-4


@pytest.mark.parametrize("T", [100, 1000])
def test_cosine_matches_nichol_dhariwal_formula(T):
    s = get_schedule("cosine", T)
    f = lambda u: math.cos((u / T + 0.008) / 1.008 * math.pi / 2) ** 2
    for t in [0, T // 3, T // 2, T - 2]:
        assert s.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert s.betas.max().item() <= 0.999


def test_scaled_linear_is_linear_in_sqrt_space():
    s = get_schedule("scaled_linear", 1000)
    root = s.betas.sqrt()
    assert root[0].item() == pytest.approx(math.sqrt(0.00085))
    assert root[-1].item() == pytest.approx(math.sqrt(0.012))
    assert torch.allclose(root.diff(), root.diff()[0].expand(999))


def test_sigmoid_spans_the_beta_range():
    s = get_schedule("sigmoid", 1000)
    assert 1e-4 < s.betas[0] < 2e-4 and 0.0199 < s.betas[-1] < 0.02
    assert torch.all(s.betas.diff() > 0)


@pytest.mark.parametrize("name", SCHEDULES)
def test_zero_terminal_snr_rescale(name):
    base, s = get_schedule(name, 200), get_schedule(name, 200, zero_terminal_snr=True)
    assert s.alpha_bar[-1].item() == 0.0 and s.snr[-1].item() == 0.0
    assert s.alpha_bar[0].item() == pytest.approx(base.alpha_bar[0].item())
    assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1]) and s.zero_terminal_snr
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas, 0), atol=1e-12)


def test_rescale_is_affine_in_sqrt_alpha_bar():
    ab = get_schedule("linear", 100).alpha_bar
    root = rescale_zero_terminal_snr(ab).sqrt()
    ratio = (root[1:-1] - root[-1]) / (ab.sqrt()[1:-1] - ab.sqrt()[-1])
    assert torch.allclose(ratio, ratio[0].expand_as(ratio))


def test_unknown_schedule_lists_the_choices():
    with pytest.raises(ValueError, match="unknown schedule 'cosin'.*linear, cosine, scaled_linear, sigmoid"):
        get_schedule("cosin", 100)


def test_too_short_linear_chain_is_refused():
    with pytest.raises(ValueError, match="larger T"):
        get_schedule("linear", 10)
