"""A small trainable transformer over the frozen text encoder's tokens, trained with the U-Net.

    context (B, L, context_dim), context_mask (B, L) -> Linear(context_dim, dim) + learned position
    -> [masked self-attention over the tokens, GEGLU feed-forward] x num_layers -> (B, L, dim)

Why: the frozen all-MiniLM-L6-v2 states barely mix words. In "a small blue triangle", the "triangle"
state is 0.99 cosine-similar to the one in "a small red triangle" (notes/2026-12-01-time-to-quality.md),
so no single token says *which* object is blue, and cross-attention has to bind colour to shape from
word order alone. A refiner lets the network learn that binding on the text side, where it is cheap
(16-32 tokens against 256 positions). The idea is the "context refiner" of recent text-to-image
transformers (Lumina-Next, Zhuo et al. 2024) at a small size.

Every block's output projection starts at zero, so a fresh refiner is the projection (plus position), layer-normalised.
Padded tokens are masked out of the keys and zeroed at the output, so they never reach cross-attention
through the refiner either.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from models.attention import FeedForward
from models.blocks import zero_init


class _TokenBlock(nn.Module):
    """x + MaskedSelfAttention(LN(x)), then x + FeedForward(LN(x)), on (B, L, dim)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm_attn, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = zero_init(nn.Linear(dim, dim))
        self.ff = FeedForward(dim, mult=2)
        zero_init(self.ff.proj_out)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """keep: (B, 1, 1, L) bool, true for real tokens."""
        q, k, v = (rearrange(p, "b l (h d) -> b h l d", h=self.heads) for p in self.to_qkv(self.norm_attn(x)).chunk(3, -1))
        x = x + self.to_out(rearrange(F.scaled_dot_product_attention(q, k, v, attn_mask=keep), "b h l d -> b l (h d)"))
        return x + self.ff(self.norm_ff(x))


class ContextRefiner(nn.Module):
    """forward(context (B, L, context_dim), context_mask (B, L) | None) -> (B, L, dim).

    max_length bounds L (the learned position table): 77 covers the bundled encoder's 32 tokens, DistilBERT's
    64 and CLIP's 77."""

    def __init__(self, context_dim: int, dim: int = 128, num_layers: int = 2, heads: int = 4, max_length: int = 77):
        super().__init__()
        if dim % heads:
            raise ValueError(f"context refiner dim {dim} is not divisible by its heads {heads}")
        self.proj_in = nn.Linear(context_dim, dim)
        self.position = nn.Parameter(torch.zeros(max_length, dim))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(_TokenBlock(dim, heads) for _ in range(num_layers))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, length, _ = context.shape
        if length > len(self.position):
            raise ValueError(f"context of {length} tokens is longer than the refiner's max_length {len(self.position)}")
        real = torch.ones(b, length, dtype=torch.bool, device=context.device) if context_mask is None else context_mask.bool()
        x = self.proj_in(context) + self.position[:length]
        for block in self.blocks:
            x = block(x, real[:, None, None, :])
        return self.norm_out(x) * real[..., None]
