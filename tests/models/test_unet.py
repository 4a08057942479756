import pytest
import torch

from models.unet import UNet
from tests.conftest import TINY_UNET, text_condition, tiny_unet


@pytest.mark.parametrize("overrides,size", [
    ({}, 8),
    ({}, 16),
    (dict(channel_mults=(1, 2, 2), image_size=16, attention_resolutions=(8, 4)), 16),
    (dict(channel_mults=(1, 2, 2), image_size=16, attention_resolutions=(16,)), 32),
    (dict(base_channels=8, channel_mults=(1, 1, 2, 2), image_size=32, attention_resolutions=(), num_res_blocks=2), 32),
    (dict(in_channels=1), 12),
])
def test_output_keeps_the_input_shape(overrides, size):
    model = tiny_unet(**overrides)
    c = model.conv_in.in_channels
    context, mask, pooled = text_condition(2)
    out = model(torch.randn(2, c, size, size), torch.tensor([0, 999]), context, mask, pooled)
    assert out.shape == (2, c, size, size) and out.is_contiguous() and torch.isfinite(out).all()


def test_a_fresh_unet_predicts_zero_until_trained():
    model = UNet(**TINY_UNET)
    context, mask, _ = text_condition(2)
    assert torch.all(model(torch.randn(2, 3, 8, 8), torch.tensor([1, 2]), context, mask) == 0)


@pytest.mark.parametrize("injection", ["cross_attention", "both"])
def test_changing_the_context_changes_the_output(injection):
    model = tiny_unet(context_injection=injection)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    context, mask, pooled = text_condition(2)
    a = model(x, t, context, mask, pooled)
    b = model(x, t, context + torch.randn_like(context), mask, pooled)
    assert (a - b).abs().max() > 1e-3


def test_add_pooled_reads_the_pooled_vector_only():
    model = tiny_unet(context_injection="add_pooled", self_attention=True)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    context, mask, pooled = text_condition(2)
    a = model(x, t, context, mask, pooled)
    assert torch.equal(a, model(x, t, torch.randn_like(context), mask, pooled))
    assert (a - model(x, t, context, mask, pooled + 1)).abs().max() > 1e-3


def test_padded_tokens_do_not_change_the_output():
    model = tiny_unet(context_injection="cross_attention")
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    context, mask, _ = text_condition(2, real_tokens=(4, 2))
    changed = torch.where(mask[..., None], context, torch.randn_like(context) * 10)
    assert torch.allclose(model(x, t, context, mask), model(x, t, changed, mask), atol=1e-6)
    unmasked = torch.ones_like(mask)
    assert (model(x, t, context, unmasked) - model(x, t, changed, unmasked)).abs().max() > 1e-3


def test_pooled_context_repeated_over_tokens_is_not_attention():
    """Why token-level context matters: L copies of one vector make every key equal, so cross-attention's
    output no longer depends on which position asks (each head's softmax is uniform)."""
    model = tiny_unet(context_injection="cross_attention")
    attn = model.middle[0].attn.block.cross_attn
    x = torch.randn(1, 5, 32)
    same = torch.randn(1, 1, 12).expand(1, 6, 12)
    out = attn(x, same)
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-5)
    varied = attn(x, torch.randn(1, 6, 12))
    assert not torch.allclose(varied, varied[:, :1].expand_as(varied), atol=1e-3)


def test_unconditional_path_runs_and_ignores_text_modules():
    model = tiny_unet(context_injection="both")
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    out = model(x, t)
    assert out.shape == x.shape and torch.isfinite(out).all()
    context, mask, pooled = text_condition(2)
    assert not torch.allclose(out, model(x, t, context, mask, pooled))


@pytest.mark.parametrize("overrides", [
    dict(context_injection="cross_attention", self_attention=False),
    dict(context_injection="cross_attention", self_attention=True),
    dict(context_injection="add_pooled", self_attention=True),
    dict(context_injection="both", self_attention=True, dropout=0.1),
    dict(context_injection="add_pooled", self_attention=False, attention_resolutions=()),
])
def test_every_parameter_gets_a_gradient(overrides):
    model = tiny_unet(**overrides).train()
    context, mask, pooled = text_condition(2)
    model(torch.randn(2, 3, 8, 8), torch.tensor([3, 400]), context, mask, pooled).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_self_and_cross_attention_switch_modules_on_and_off():
    names = lambda m: {part for n, _ in m.named_parameters() for part in n.split(".")}
    assert {"self_attn", "cross_attn"} <= names(tiny_unet(context_injection="both"))
    assert "cross_attn" not in names(tiny_unet(context_injection="add_pooled"))
    assert "self_attn" not in names(tiny_unet(self_attention=False))
    assert tiny_unet(context_injection="add_pooled").pooled_proj is not None
    assert tiny_unet(context_injection="cross_attention").pooled_proj is None


def test_parameter_count_is_reported_and_grows_with_width():
    small, wide = tiny_unet(), tiny_unet(base_channels=32)
    assert small.num_parameters() == sum(p.numel() for p in small.parameters())
    assert wide.num_parameters() > 3 * small.num_parameters()


@pytest.mark.parametrize("overrides,message", [
    (dict(image_size=9), "image_size 9 is not divisible by the U-Net's total downsampling 2"),
    (dict(attention_resolutions=(16,)), r"attention_resolutions \[16\] are not feature-map sizes of a 8x8 input; valid sizes: \[8, 4\]"),
    (dict(context_injection="concat"), "'concat'; valid choices: cross_attention, add_pooled, both"),
    (dict(context_injection="add_pooled", cross_attention=True), "contradicts"),
    (dict(context_dim=None), "context_dim must be set"),
    (dict(attention_head_dim=12), "not divisible by attention_head_dim=12"),
])
def test_bad_configurations_fail_with_a_clear_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        UNet(**{**TINY_UNET, **overrides})


def test_input_size_not_divisible_by_downsampling_is_refused():
    with pytest.raises(ValueError, match="not divisible"):
        tiny_unet()(torch.randn(1, 3, 9, 9), torch.tensor([1]))
