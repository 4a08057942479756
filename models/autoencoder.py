"""A KL-regularised convolutional autoencoder: the first stage of latent diffusion.

Follows the layout of Stable Diffusion's `AutoencoderKL` (Rombach et al. 2022, "High-Resolution Image
Synthesis with Latent Diffusion Models", sec. 3.1 and appendix G; ldm/modules/diffusionmodules/model.py):
    encoder: conv_in -> per level [ResBlock x num_res_blocks, Downsample (not after the last)]
             -> mid [ResBlock, (attention), ResBlock] -> GN, SiLU, conv_out to 2 * latent_channels
    quant_conv (1x1) -> the mean and log-variance of a diagonal Gaussian posterior q(z | x)
    decoder: post_quant_conv (1x1) -> conv_in -> mid -> per level [ResBlock x (num_res_blocks + 1),
             Upsample (not after the last)] -> GN, SiLU, conv_out to the image channels
The downsampling factor is f = 2 ** (len(channel_mults) - 1): (B, C, H, W) images <-> (B, latent_channels,
H/f, W/f) latents. `scaling_factor` (a buffer, so it travels with the weights) is 1 / std of the latents
on the training images, measured after training: the diffusion model then sees unit-variance latents
(SD's 0.18215 is exactly this, for its own data).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import Downsample, PointwiseConv, Upsample

LOGVAR_RANGE = (-30.0, 20.0)  # as SD: keeps exp(logvar) finite in fp32
# The posterior starts narrow (std e^-3 = 0.05) instead of at std 1 (SD's default init). With SD's tiny KL
# weight nothing pulls it wide again, and the decoder then sees the encoder's means from the first step,
# not mostly noise: on shapes 64x64 this is what makes a run of minutes (not days) reconstruct sharply.
INITIAL_LOGVAR = -6.0


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(logvar))). parameters: (B, 2c, h, w), the mean then the log-variance."""

    def __init__(self, parameters: torch.Tensor):
        self.mean, logvar = parameters.float().chunk(2, dim=1)
        self.logvar = logvar.clamp(*LOGVAR_RANGE)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, (B, c, h, w): the reparameterisation trick (Kingma & Welling 2014)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z | x) || N(0, I)) per sample, (B,): 0.5 * sum(mean^2 + var - 1 - logvar) over c, h, w."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).sum(dim=(1, 2, 3))


class AEResBlock(nn.Module):
    """(B, in_ch, H, W) -> (B, out_ch, H, W): GN, SiLU, conv, GN, SiLU, conv, plus a (1x1) skip; no time input."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(norm_groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(norm_groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = PointwiseConv(in_channels, out_channels) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class MidAttention(nn.Module):
    """Single-head self-attention over the H*W positions, residual: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, norm_groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, channels)
        self.qkv = PointwiseConv(channels, 3 * channels)
        self.out = PointwiseConv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, 1, c, h * w).transpose(-1, -2).unbind(1)  # (B, 1, HW, C)
        attended = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))


def _mid(channels: int, mid_attention: bool, norm_groups: int) -> nn.Sequential:
    attention = [MidAttention(channels, norm_groups)] if mid_attention else []
    return nn.Sequential(AEResBlock(channels, channels, norm_groups), *attention, AEResBlock(channels, channels, norm_groups))


class Encoder(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H/f, W/f)."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int, channel_mults: tuple[int, ...],
                 num_res_blocks: int, mid_attention: bool, norm_groups: int):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        layers, width = [], base_channels
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                layers.append(AEResBlock(width, base_channels * mult, norm_groups))
                width = base_channels * mult
            if level < len(channel_mults) - 1:
                layers.append(Downsample(width))
        self.down = nn.Sequential(*layers)
        self.mid = _mid(width, mid_attention, norm_groups)
        self.norm_out = nn.GroupNorm(norm_groups, width)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """(B, in_channels, h, w) -> (B, out_channels, h*f, w*f); the encoder's mirror image, one more ResBlock per level."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int, channel_mults: tuple[int, ...],
                 num_res_blocks: int, mid_attention: bool, norm_groups: int):
        super().__init__()
        width = base_channels * channel_mults[-1]
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.mid = _mid(width, mid_attention, norm_groups)
        layers = []
        for level, mult in reversed(list(enumerate(channel_mults))):
            for _ in range(num_res_blocks + 1):
                layers.append(AEResBlock(width, base_channels * mult, norm_groups))
                width = base_channels * mult
            if level > 0:
                layers.append(Upsample(width))
        self.up = nn.Sequential(*layers)
        self.norm_out = nn.GroupNorm(norm_groups, width)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """Images (B, in_channels, H, W) in [-1, 1] <-> latents (B, latent_channels, H/f, W/f), f = 2 ** (levels - 1)."""

    def __init__(self, in_channels: int = 3, image_size: int = 64, base_channels: int = 64,
                 channel_mults: tuple[int, ...] = (1, 2, 2), num_res_blocks: int = 1, latent_channels: int = 4,
                 mid_attention: bool = True, norm_groups: int = 32):
        super().__init__()
        channel_mults = tuple(channel_mults)
        if not channel_mults:
            raise ValueError("channel_mults must name at least one level, e.g. [1, 2, 2] for f = 4")
        self.downsample_factor = 2 ** (len(channel_mults) - 1)
        if image_size % self.downsample_factor:
            raise ValueError(f"image_size {image_size} is not divisible by the autoencoder's downsampling factor "
                             f"{self.downsample_factor} (channel_mults {list(channel_mults)})")
        for width in {base_channels * m for m in channel_mults}:
            if width % norm_groups:
                raise ValueError(f"channel width {width} is not divisible by norm_groups={norm_groups}")
        self.in_channels, self.image_size, self.latent_channels = in_channels, image_size, latent_channels
        arch = dict(base_channels=base_channels, channel_mults=channel_mults, num_res_blocks=num_res_blocks,
                    mid_attention=mid_attention, norm_groups=norm_groups)
        self.encoder = Encoder(in_channels, 2 * latent_channels, **arch)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
        nn.init.constant_(self.quant_conv.bias[latent_channels:], INITIAL_LOGVAR)  # see INITIAL_LOGVAR
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = Decoder(latent_channels, in_channels, **arch)
        self.register_buffer("scaling_factor", torch.tensor(1.0))

    @property
    def latent_size(self) -> int:
        return self.image_size // self.downsample_factor

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x (B, C, H, W) in [-1, 1] -> the posterior q(z | x) over (B, latent_channels, H/f, W/f)."""
        return DiagonalGaussian(self.quant_conv(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_channels, h, w), unscaled -> reconstruction (B, C, h*f, w*f), roughly in [-1, 1]."""
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor, sample_posterior: bool = True) -> tuple[torch.Tensor, DiagonalGaussian]:
        """x -> (reconstruction, posterior), decoding a posterior sample (training) or its mean."""
        posterior = self.encode(x)
        z = posterior.sample() if sample_posterior else posterior.mode()
        return self.decode(z), posterior
