"""The text-conditioned U-Net (Ronneberger et al. 2015), in the layout of ADM (Dhariwal & Nichol 2021)
with Stable Diffusion's spatial transformers (Rombach et al. 2022) at chosen feature-map sizes.

    conv_in -> [ResBlock (+ attention)] x num_res_blocks, Downsample    per level, skips kept
            -> ResBlock, attention, ResBlock                              middle
            -> [concat skip, ResBlock (+ attention)] x (num_res_blocks + 1), Upsample   per level
            -> GroupNorm, SiLU, conv_out (zero-initialised)

The text enters by `context_injection`:
    cross_attention   token-level context (B, L, context_dim) read by cross-attention
    add_pooled        a pooled text vector (B, context_dim) projected and added to the time embedding
    both              the two together
`context=None` (and `pooled=None`) is the unconditional path: no text reaches the network.
`context_refiner_layers` > 0 puts a small trainable transformer (models/context_refiner.py) between the
frozen encoder's tokens and every cross-attention layer; the pooled vector stays the encoder's.
`self_attention_resolutions` (None: every attended size) keeps self-attention to some of them, so cross-attention
can read the text at a finer size (one cell per pixel at 32x32) without self-attention's cost, quadratic in positions.
`positional_embedding` adds a fixed 2D sine-cosine embedding to the tokens of every spatial transformer
(parameter-free), which lets cross-attention bind position words to places quickly.
`guidance_embedding` (Meng et al. 2023, "On Distillation of Guided Diffusion Models", sec. 3.1) makes the
classifier-free guidance scale w an input: a distilled student predicts the guided output in one call, w
embedded like a timestep and added to the time embedding. Its last layer starts at zero, so a student made from a
teacher's weights starts as the teacher's conditional network.
`self_condition` (Chen et al. 2022, "Analog Bits", sec. 3.2) gives the network a second input, its own
previous estimate of x0 (B, in_channels, H, W), concatenated with x_t before conv_in; `x_self_cond=None`
stands for "no estimate yet" and is zeros, as in training's first pass (diffusion/losses.py).
Nothing depends on the spatial size except where attention sits, which is given as feature-map sizes of
an `image_size` input; the network runs on any size divisible by its total downsampling.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.attention import SpatialTransformer
from models.blocks import Downsample, ResBlock, Upsample, zero_init
from models.context_refiner import ContextRefiner
from models.embeddings import TimestepEmbedding

CONTEXT_INJECTIONS = ("cross_attention", "add_pooled", "both")
GUIDANCE_EMBEDDING_SCALE = 100.0  # w in [1, 10] spans the sinusoid's frequencies as t in [100, 1000] does


class _Layer(nn.Module):
    """One ResBlock, followed by a SpatialTransformer where the level has attention."""

    def __init__(self, res: ResBlock, attn: SpatialTransformer | None):
        super().__init__()
        self.res, self.attn = res, attn

    def forward(self, x, emb, context, context_mask):
        x = self.res(x, emb)
        return x if self.attn is None else self.attn(x, context, context_mask)


class UNet(nn.Module):
    """forward(xt (B, in_channels, H, W), t (B,), context (B, L, context_dim) | None,
    context_mask (B, L) | None, pooled (B, context_dim) | None, x_self_cond (B, in_channels, H, W) | None,
    guidance_scale (B,) | None) -> (B, out_channels, H, W). x_self_cond is only accepted by a self-conditioned
    network, guidance_scale only by one with a guidance embedding (where None means w = 1, no guidance)."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 2,
        image_size: int = 32,
        attention_resolutions: tuple[int, ...] = (16, 8),
        self_attention: bool = True,
        cross_attention: bool | None = None,
        context_injection: str = "cross_attention",
        context_dim: int | None = None,
        attention_head_dim: int = 32,
        dropout: float = 0.0,
        norm_groups: int = 32,
        positional_embedding: bool = False,
        context_refiner_layers: int = 0,
        context_refiner_dim: int = 128,
        self_condition: bool = False,
        guidance_embedding: bool = False,
        self_attention_resolutions: tuple[int, ...] | None = None,
    ):
        super().__init__()
        cross_attention = _check_text_args(cross_attention, context_injection, context_dim)
        levels = _attention_levels(image_size, channel_mults, attention_resolutions)
        self_levels = levels if self_attention_resolutions is None else _attention_levels(
            image_size, channel_mults, self_attention_resolutions)
        if not self_levels <= levels:
            raise ValueError(f"self_attention_resolutions {list(self_attention_resolutions)} must be among "
                             f"attention_resolutions {list(attention_resolutions)}")
        widths = [base_channels * m for m in channel_mults]
        _check_widths(widths, attention_head_dim, norm_groups)
        self.downsampling = 2 ** (len(channel_mults) - 1)
        self.add_pooled = context_injection in ("add_pooled", "both")
        emb_dim = 4 * base_channels
        self.time_embed = TimestepEmbedding(base_channels, emb_dim)
        self.guidance_embedding = guidance_embedding
        self.guidance_embed = TimestepEmbedding(base_channels, emb_dim) if guidance_embedding else None
        if guidance_embedding:
            zero_init(self.guidance_embed.mlp[-1])
        self.pooled_proj = nn.Linear(context_dim, emb_dim) if self.add_pooled else None
        has_attention = self_attention or cross_attention
        self.context_refiner = None
        if cross_attention and context_refiner_layers:
            self.context_refiner = ContextRefiner(context_dim, context_refiner_dim, context_refiner_layers,
                                                  max(1, context_refiner_dim // attention_head_dim))
            context_dim = context_refiner_dim

        def layer(c_in, c_out, level):
            res = ResBlock(c_in, c_out, emb_dim, dropout, norm_groups)
            wants = has_attention and (level in levels or level == "middle")
            own = self_attention and (level in self_levels or level == "middle")
            attn = SpatialTransformer(c_out, c_out // attention_head_dim, own,
                                      context_dim if cross_attention else None, norm_groups, positional_embedding) if wants else None
            return _Layer(res, attn)

        self.self_condition = self_condition
        self.conv_in = nn.Conv2d(in_channels * (2 if self_condition else 1), base_channels, 3, padding=1)
        self.down, skips, ch = nn.ModuleList(), [base_channels], base_channels
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(layer(ch, width, level))
                ch = width
                skips.append(ch)
            if level < len(widths) - 1:
                self.down.append(Downsample(ch))
                skips.append(ch)
        self.middle = nn.ModuleList([layer(ch, ch, "middle"), _Layer(ResBlock(ch, ch, emb_dim, dropout, norm_groups), None)])
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.up.append(layer(ch + skips.pop(), width, level))
                ch = width
            if level > 0:
                self.up.append(Upsample(ch))
        self.norm_out = nn.GroupNorm(norm_groups, ch)
        self.conv_out = zero_init(nn.Conv2d(ch, out_channels or in_channels, 3, padding=1))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def layers(self) -> list[nn.Module]:
        """The ResBlock (+ attention) layers: the repeated units that regional compilation compiles."""
        return [m for m in self.modules() if isinstance(m, _Layer)]

    def forward(self, xt, t, context=None, context_mask=None, pooled=None, x_self_cond=None, guidance_scale=None):
        if xt.shape[-1] % self.downsampling or xt.shape[-2] % self.downsampling:
            raise ValueError(f"image size {tuple(xt.shape[-2:])} is not divisible by the U-Net's downsampling {self.downsampling}")
        emb = self.time_embed(t)
        if self.guidance_embed is not None:
            w = torch.ones(len(xt), device=xt.device) if guidance_scale is None else guidance_scale.to(xt.device)
            emb = emb + self.guidance_embed(GUIDANCE_EMBEDDING_SCALE * w.float())
        elif guidance_scale is not None:
            raise ValueError("guidance_scale was given to a U-Net built without guidance_embedding")
        if self.add_pooled and pooled is not None:
            emb = emb + self.pooled_proj(pooled)
        emb = F.silu(emb)
        if self.context_refiner is not None and context is not None:
            context = self.context_refiner(context, context_mask)
        if self.self_condition:
            xt = torch.cat([xt, torch.zeros_like(xt) if x_self_cond is None else x_self_cond.to(xt.dtype)], dim=1)
        elif x_self_cond is not None:
            raise ValueError("x_self_cond was given to a U-Net built without self_condition")
        h = self.conv_in(xt)
        skips = [h]
        for module in self.down:
            h = module(h) if isinstance(module, Downsample) else module(h, emb, context, context_mask)
            skips.append(h)
        for module in self.middle:
            h = module(h, emb, context, context_mask)
        for module in self.up:
            if isinstance(module, Upsample):
                h = module(h)
            else:
                h = module(torch.cat([h, skips.pop()], dim=1), emb, context, context_mask)
        return self.conv_out(F.silu(self.norm_out(h))).contiguous()


def _check_text_args(cross_attention: bool | None, context_injection: str, context_dim: int | None) -> bool:
    """Validate how text enters; returns whether cross-attention layers exist."""
    if context_injection not in CONTEXT_INJECTIONS:
        raise ValueError(f"unknown context_injection {context_injection!r}; valid choices: {', '.join(CONTEXT_INJECTIONS)}")
    implied = context_injection in ("cross_attention", "both")
    if cross_attention is not None and cross_attention != implied:
        raise ValueError(f"cross_attention={cross_attention} contradicts context_injection={context_injection!r}")
    if not context_dim:
        raise ValueError(f"context_dim must be set for context_injection={context_injection!r}")
    return implied


def _attention_levels(image_size: int, channel_mults, attention_resolutions) -> set[int]:
    """Map the feature-map sizes that get attention to U-Net levels, failing on sizes that do not exist."""
    downsampling = 2 ** (len(channel_mults) - 1)
    if image_size % downsampling:
        raise ValueError(f"image_size {image_size} is not divisible by the U-Net's total downsampling {downsampling} "
                         f"({len(channel_mults)} levels in channel_mults)")
    sizes = {image_size // 2**level: level for level in range(len(channel_mults))}
    bad = [r for r in attention_resolutions if r not in sizes]
    if bad:
        raise ValueError(f"attention_resolutions {list(bad)} are not feature-map sizes of a {image_size}x{image_size} "
                         f"input; valid sizes: {sorted(sizes, reverse=True)}")
    return {sizes[r] for r in attention_resolutions}


def _check_widths(widths: list[int], attention_head_dim: int, norm_groups: int) -> None:
    for width in widths:
        if width % norm_groups:
            raise ValueError(f"channel width {width} is not divisible by norm_groups={norm_groups}")
        if width % attention_head_dim:
            raise ValueError(f"channel width {width} is not divisible by attention_head_dim={attention_head_dim}")
