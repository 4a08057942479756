import pytest
import torch
import torch.nn.functional as F

from models.attention import attention
from models.blocks import Downsample, PointwiseConv, ResBlock, Upsample


@pytest.mark.parametrize("shape", [(2, 8, 5, 7), (1, 4, 1, 1), (3, 16, 8, 8)])
def test_upsample_equals_nearest_then_conv_values_and_gradients(shape):
    torch.manual_seed(0)
    up = Upsample(shape[1])
    x = torch.randn(shape, requires_grad=True)
    reference = up.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    out = up(x)
    assert out.shape == reference.shape and torch.allclose(out, reference, atol=1e-5)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, up.conv.weight, up.conv.bias], g)
    ref_grads = torch.autograd.grad(reference, [x, up.conv.weight, up.conv.bias], g)
    for a, b in zip(grads, ref_grads):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 8, 5, 7), (1, 3, 1, 1), (4, 16, 8, 8)])
def test_pointwise_conv_equals_a_1x1_conv_values_gradients_and_state_dict_keys(shape):
    torch.manual_seed(0)
    pointwise = PointwiseConv(shape[1], 5)
    conv = torch.nn.Conv2d(shape[1], 5, 1)
    conv.load_state_dict(pointwise.state_dict())  # same keys and shapes, both ways
    pointwise.load_state_dict(conv.state_dict())
    x = torch.randn(shape, requires_grad=True)
    out, reference = pointwise(x), conv(x)
    assert out.shape == reference.shape and torch.allclose(out, reference, atol=1e-5)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, pointwise.weight, pointwise.bias], g)
    ref_grads = torch.autograd.grad(reference, [x, conv.weight, conv.bias], g)
    for a, b in zip(grads, ref_grads):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4)


def test_downsample_halves_and_resblock_starts_as_identity_on_matching_channels():
    x, emb = torch.randn(2, 8, 6, 6), torch.randn(2, 16)
    assert Downsample(8)(x).shape == (2, 8, 3, 3)
    assert torch.equal(ResBlock(8, 8, 16, norm_groups=4)(x, emb), x)
    assert ResBlock(8, 12, 16, norm_groups=4)(x, emb).shape == (2, 12, 6, 6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_cpu_attention_matches_sdpa(dtype):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 17, 8, generator=g) for _ in range(3))
    mask = torch.tensor([[True] * 5 + [False] * 12, [True] * 17])[:, None, None, :]
    k, v = k[:, :, :17], v[:, :, :17]
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(q.to(dtype), k.to(dtype), v.to(dtype), mask).float()
    assert torch.allclose(out, reference, atol=3e-2)
    assert torch.equal(attention(q, k, v, mask), reference)  # fp32 goes through SDPA itself


def test_positional_embedding_distinguishes_every_position_and_is_parameter_free():
    from models.attention import positional_embedding_2d
    from tests.conftest import tiny_unet

    emb = positional_embedding_2d(4, 6, 16)
    assert emb.shape == (24, 16)
    assert torch.cdist(emb, emb).add(torch.eye(24) * 1e3).min() > 0.1  # no two positions share an embedding
    row_part, col_part = emb[:, :8].view(4, 6, 8), emb[:, 8:].view(4, 6, 8)
    assert torch.allclose(row_part, row_part[:, :1].expand(-1, 6, -1))  # the first half depends on the row only
    assert torch.allclose(col_part, col_part[:1].expand(4, -1, -1))
    plain, with_pos = tiny_unet(), tiny_unet(positional_embedding=True)
    assert plain.num_parameters() == with_pos.num_parameters()
    x, t = torch.randn(1, 3, 8, 8), torch.tensor([3])
    assert not torch.allclose(plain(x, t), with_pos(x, t))


def test_a_fresh_block_with_self_attention_equals_it_without_and_self_attention_still_learns():
    """SelfAttention's zero-initialised output: self + cross starts as cross only, but is trained from step one."""
    from models.attention import TransformerBlock
    torch.manual_seed(0)
    both = TransformerBlock(32, heads=2, self_attention=True, context_dim=16)
    cross_only = TransformerBlock(32, heads=2, self_attention=False, context_dim=16)
    cross_only.load_state_dict({k: v for k, v in both.state_dict().items() if "self" not in k})
    x, context = torch.randn(2, 9, 32), torch.randn(2, 5, 16)
    out = both(x, context)
    assert torch.equal(out, cross_only(x, context))
    out.square().sum().backward()
    assert both.self_attn.to_out.weight.grad.abs().sum() > 0
