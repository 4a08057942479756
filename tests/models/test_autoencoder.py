"""The KL autoencoder: shapes, the posterior's KL against a hand computation, and its checks."""
import math

import pytest
import torch

from models.autoencoder import AutoencoderKL, DiagonalGaussian
from models.autoencoder_loss import autoencoder_losses, psnr

TINY_AE = dict(in_channels=3, image_size=16, base_channels=8, channel_mults=(1, 2, 2), num_res_blocks=1,
               latent_channels=4, mid_attention=True, norm_groups=4)


@pytest.mark.parametrize("mults, f", [((1, 2, 2), 4), ((1, 2, 2, 2), 8)])
def test_encode_and_decode_shapes_follow_the_downsampling_factor(mults, f):
    model = AutoencoderKL(**{**TINY_AE, "channel_mults": mults}).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    posterior = model.encode(x)
    assert model.downsample_factor == f and model.latent_size == 16 // f
    assert posterior.mean.shape == posterior.logvar.shape == posterior.sample().shape == (2, 4, 16 // f, 16 // f)
    assert model.decode(posterior.mode()).shape == x.shape


def test_posterior_sample_mode_and_kl_match_a_hand_computation():
    mean = torch.tensor([0.5, -1.0, 0.0, 2.0]).reshape(1, 4, 1, 1)
    logvar = torch.tensor([0.0, math.log(0.25), math.log(4.0), -100.0]).reshape(1, 4, 1, 1)
    posterior = DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    assert torch.equal(posterior.mode(), mean)
    # logvar is clamped to [-30, 20] as in SD, so the last entry's variance is exp(-30).
    by_hand = sum(0.5 * (m * m + v - 1 - math.log(v)) for m, v in [(0.5, 1.0), (-1.0, 0.25), (0.0, 4.0), (2.0, math.exp(-30))])
    assert posterior.kl().shape == (1,) and posterior.kl().item() == pytest.approx(by_hand, rel=1e-5)
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(1, 4, 1, 1, generator=torch.Generator().manual_seed(0))
    expected = mean + torch.tensor([1.0, 0.5, 2.0, math.exp(-15)]).reshape(1, 4, 1, 1) * eps
    assert torch.allclose(posterior.sample(g), expected)


def test_kl_is_zero_for_the_standard_normal_and_sample_statistics_match():
    params = torch.cat([torch.full((1, 2, 32, 32), 3.0), torch.full((1, 2, 32, 32), math.log(0.25))], dim=1)
    standard = DiagonalGaussian(torch.zeros(3, 4, 2, 2))
    assert torch.equal(standard.kl(), torch.zeros(3))
    z = DiagonalGaussian(params).sample(torch.Generator().manual_seed(1))
    assert z.mean().item() == pytest.approx(3.0, abs=0.03) and z.std().item() == pytest.approx(0.5, abs=0.03)


def test_loss_terms_are_per_sample_and_weighted():
    torch.manual_seed(0)
    model = AutoencoderKL(**TINY_AE)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    torch.manual_seed(1)
    terms = autoencoder_losses(model, x, l1_weight=2.0, l2_weight=3.0, kl_weight=0.5)
    assert all(v.shape == (3,) for v in terms.values())
    expected = 2.0 * terms["l1"] + 3.0 * terms["l2"] + 0.5 * terms["kl"]
    assert torch.allclose(terms["loss"], expected)
    assert torch.allclose(terms["kl"], model.encode(x).kl() / (3 * 16 * 16))


def test_psnr_of_a_known_error():
    x = torch.zeros(2, 3, 4, 4)
    assert torch.allclose(psnr(x, x + 0.02), torch.full((2,), 10 * math.log10(4 / 0.0004)))


def test_bad_arguments_fail_in_one_line():
    with pytest.raises(ValueError, match="not divisible by the autoencoder's downsampling factor 4"):
        AutoencoderKL(**{**TINY_AE, "image_size": 18})
    with pytest.raises(ValueError, match="not divisible by norm_groups=3"):
        AutoencoderKL(**{**TINY_AE, "norm_groups": 3})


def test_scaling_factor_travels_with_the_state_dict():
    model = AutoencoderKL(**TINY_AE)
    model.scaling_factor.fill_(0.25)
    other = AutoencoderKL(**TINY_AE)
    other.load_state_dict(model.state_dict())
    assert other.scaling_factor.item() == 0.25


def test_a_fresh_posterior_is_narrow_so_the_decoder_sees_the_means():
    torch.manual_seed(0)
    model = AutoencoderKL(image_size=16, base_channels=32, channel_mults=(1, 2), mid_attention=False)
    posterior = model.encode(torch.rand(4, 3, 16, 16) * 2 - 1)
    # INITIAL_LOGVAR = -6: std e^-3 ~ 0.05, against a unit-variance prior (SD's init starts near std 1)
    assert 0.03 < posterior.std.mean().item() < 0.08
    assert posterior.mean.std().item() > 2 * posterior.std.mean().item()
