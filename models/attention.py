"""Attention over feature-map positions: self-attention, cross-attention to the text tokens, and the
transformer block that holds both (Vaswani et al. 2017; the Stable Diffusion layout of Rombach et al. 2022).

Cross-attention uses the token-level context (B, L, context_dim) and its padding mask (B, L): queries
are positions, keys and values are tokens, and padded tokens are masked out of the softmax, so they
cannot change the output. A single pooled vector repeated over L would give L equal keys, a uniform
softmax, and an output that ignores the positions' queries: that is not cross-attention.
Attention runs through F.scaled_dot_product_attention (fused kernels), except in bf16/fp16 on the CPU,
where PyTorch's fused CPU kernel measured 2-3x slower (forward + backward) than the plain matmul form at
these sizes (256 positions, head dim 32; see notes/2026-11-22-unet-speed.md); there `attention` computes
softmax(q k^T / sqrt(d)) v with batched matmuls, which are what bf16 makes fast.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from models.blocks import zero_init


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d), masked) v. q: (B, h, N, d), k, v: (B, h, L, d), mask: (B, 1, 1, L) bool, true = attend."""
    if q.device.type != "cpu" or q.dtype == torch.float32:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def attention_probabilities(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d), masked) in float32, (B, h, N, L): what `attention` weighs v with, for
    reading attention maps and for prompt-to-prompt (which replaces them)."""
    scores = (q.float() * q.shape[-1] ** -0.5) @ k.float().transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return rearrange(x, "b n (h d) -> b h n d", h=heads)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    return rearrange(x, "b h n d -> b n (h d)")


class SelfAttention(nn.Module):
    """Multi-head self-attention, (B, N, dim) -> (B, N, dim), with one fused q/k/v projection.

    The output projection starts at zero, so a transformer block with self- and cross-attention starts
    as the same block with cross-attention only: at initialisation random self-attention would mix every
    position with every other before cross-attention reads the text, which slowed learning the
    shapes' attributes (notes/2026-11-23-time-to-quality.md: 0.83 / 0.69 -> 0.92 / 0.72 all-attributes at
    40k training images, one seed). It still learns from the first step (its gradient is not zero)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = zero_init(nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(part, self.heads) for part in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge_heads(attention(q, k, v)))


class CrossAttention(nn.Module):
    """Multi-head attention from positions (B, N, dim) to tokens (B, L, context_dim) -> (B, N, dim).

    context_mask: (B, L), true (or 1) for real tokens and false (0) for padding; at least one real token
    per row (a text encoder always emits its start token, even for the empty caption).
    `processor`, when set, replaces `attention(q, k, v, mask)` -> (B, h, N, d): generation/attention_maps.py
    uses it to record the maps (returning the unchanged output) and to inject them (prompt-to-prompt).
    """

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.processor = None
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        q = _split_heads(self.to_q(x), self.heads)
        k, v = (_split_heads(part, self.heads) for part in self.to_kv(context).chunk(2, dim=-1))
        mask = None if context_mask is None else context_mask.bool()[:, None, None, :]
        out = attention(q, k, v, mask) if self.processor is None else self.processor(q, k, v, mask)
        return self.to_out(_merge_heads(out))


class FeedForward(nn.Module):
    """GEGLU feed-forward (Shazeer 2020): Linear(dim, 2 * mult * dim) -> a * GELU(gate) -> Linear(mult * dim, dim)."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.proj_in = nn.Linear(dim, 2 * mult * dim)
        self.proj_out = nn.Linear(mult * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(a * F.gelu(gate))


class TransformerBlock(nn.Module):
    """norm -> self-attn -> norm -> cross-attn -> norm -> feed-forward, each with a residual, on (B, N, dim).

    Self- and cross-attention can each be switched off; the feed-forward is always there.
    """

    def __init__(self, dim: int, heads: int, self_attention: bool = True, context_dim: int | None = None):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim) if self_attention else None
        self.self_attn = SelfAttention(dim, heads) if self_attention else None
        self.norm_cross = nn.LayerNorm(dim) if context_dim else None
        self.cross_attn = CrossAttention(dim, context_dim, heads) if context_dim else None
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.self_attn is not None:
            x = x + self.self_attn(self.norm_self(x))
        if self.cross_attn is not None and context is not None:
            x = x + self.cross_attn(self.norm_cross(x), context, context_mask)
        return x + self.ff(self.norm_ff(x))


def positional_embedding_2d(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2D sine-cosine embedding of feature-map positions (as in MAE and DiT), (h * w, dim): a quarter
    of the channels each hold sin / cos of the row and of the column index at geometric frequencies."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    rows, cols = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                                torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    y, x = rows.reshape(-1, 1) * omega, cols.reshape(-1, 1) * omega
    return F.pad(torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=1), (0, dim - 4 * quarter))


class SpatialTransformer(nn.Module):
    """A transformer block applied to the positions of a feature map, (B, C, H, W) -> (B, C, H, W):
    GroupNorm -> Linear in (+ 2D positional embedding) -> TransformerBlock -> Linear out (zero-initialised:
    starts as the identity) -> + input. The (B, H*W, C) view is free when the map is channels-last.

    The positional embedding gives every query its absolute place on the map. A convolutional network
    only learns where it is from the zero padding at the borders, slowly; with the embedding,
    cross-attention can tie "top left" to the top-left positions directly (see notes/)."""

    def __init__(self, channels: int, heads: int, self_attention: bool = True, context_dim: int | None = None,
                 norm_groups: int = 32, positional_embedding: bool = False):
        super().__init__()
        self.positional_embedding = positional_embedding
        self.norm = nn.GroupNorm(norm_groups, channels)
        self.proj_in = nn.Linear(channels, channels)
        self.block = TransformerBlock(channels, heads, self_attention, context_dim)
        self.proj_out = zero_init(nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.proj_in(rearrange(self.norm(x), "b c h w -> b (h w) c"))
        if self.positional_embedding:
            tokens = tokens + positional_embedding_2d(h, w, c, x.device)
        tokens = self.proj_out(self.block(tokens, context, context_mask))
        return x + rearrange(tokens, "b (h w) c -> b c h w", h=h, w=w)


@contextlib.contextmanager
def processors(model: nn.Module, processor):
    """Every CrossAttention of the model runs `processor` (q, k, v, mask) -> out inside the block (attention maps,
    prompt-to-prompt, binding losses: generation/)."""
    layers = [m for m in model.modules() if isinstance(m, CrossAttention)]
    previous = [layer.processor for layer in layers]  # blocks nest: a binding loss inside a map recording
    for layer in layers:
        layer.processor = processor
    try:
        yield layers
    finally:
        for layer, before in zip(layers, previous):
            layer.processor = before
