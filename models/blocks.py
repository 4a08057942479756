"""Convolutional blocks of the U-Net: the residual block with scale-shift time conditioning, and resampling.

The residual block follows ADM (Dhariwal & Nichol 2021, sec. 3 "adaptive group normalisation"):
    h = conv1(SiLU(GN(x)));  h = GN(h) * (1 + scale) + shift;  h = conv2(dropout(SiLU(h)));  out = skip(x) + h
where (scale, shift) = Linear(SiLU(emb)). conv2 starts at zero, so every block starts as the identity
and a deep network trains stably from the first step (Goyal et al. 2017; used by ADM and DiT).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def zero_init(module: nn.Module) -> nn.Module:
    """Set a layer's parameters to zero and return it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """(B, in_ch, H, W), (B, emb_dim) -> (B, out_ch, H, W). emb arrives already passed through SiLU."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float = 0.0, norm_groups: int = 32):
        super().__init__()
        self.norm1 = nn.GroupNorm(norm_groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(norm_groups, out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = zero_init(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = PointwiseConv(in_channels, out_channels) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb_proj(emb)[:, :, None, None].chunk(2, dim=1)
        h = torch.addcmul(shift, self.norm2(h), 1 + scale)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class PointwiseConv(nn.Conv2d):
    """A 1x1 convolution, (B, C_in, H, W) -> (B, C_out, H, W), computed on the CPU as one batched matrix
    product over the (C_in, H*W) view of each image; elsewhere it is nn.Conv2d's own call.

    The parameters (and checkpoint keys) are nn.Conv2d(in, out, 1)'s. A (C_out, C_in, 1, 1) weight's strides
    fit both memory layouts, and oneDNN takes it for channels-last: it then copies the NCHW activations
    to channels-last and back in forward and backward. baddbmm copies nothing: forward + backward of
    96 -> 32 channels at 32x32, batch 32, measured 2.5x faster in fp32 and 1.6x in bf16 (notes/2026-12-01-time-to-quality.md §17).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        b, c, h, w = x.shape
        weight = self.weight.view(self.out_channels, c).expand(b, -1, -1)
        bias = self.bias[None, :, None].expand(b, -1, h * w)
        return torch.baddbmm(bias, weight, x.reshape(b, c, h * w)).view(b, -1, h, w)


class Downsample(nn.Module):
    """Strided 3x3 convolution, (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


# Nearest-neighbour x2 followed by a 3x3 convolution gives each output pixel 2i + a (per axis) two input
# pixels: phase a = 0 reads offsets (-1, 0) with taps (w0, w1 + w2), phase a = 1 reads (0, +1) with
# (w0 + w1, w2). A transposed convolution with stride 2, a 4-tap kernel and padding 1 sends input j to
# outputs 2j - 1 + k (k = 0..3), so its taps are, in order: phase 1's second, phase 0's second, phase 1's
# first, phase 0's first. _TAPS[k] is that 4x3 map from the 3x3 kernel's taps to the transposed kernel's.
_TAPS = [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 convolution, (B, C, H, W) -> (B, C, 2H, 2W).

    Computed exactly but without building the upsampled map: the 3x3 kernel is folded into a 4x4
    transposed-convolution kernel of stride 2 (each output pixel then sees the 2x2 input pixels it
    depends on). That is 16 instead of 36 multiply-adds per input pixel and channel pair (2.25x fewer
    FLOPs), in one oneDNN call: measured 1.3-1.6x faster forward + backward than four per-phase 2x2
    convolutions interleaved with pixel_shuffle (notes/2026-11-23-time-to-quality.md). The parameter is
    the ordinary 3x3 `conv`, so checkpoints are the same as for the naive form.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = torch.tensor(_TAPS, device=x.device, dtype=self.conv.weight.dtype)
        kernel = torch.einsum("kt,oitl,ml->iokm", taps, self.conv.weight, taps)  # (C_in, C_out, 4, 4)
        return F.conv_transpose2d(x, kernel, self.conv.bias, stride=2, padding=1)
