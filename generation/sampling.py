"""Generating images from prompts: text embeddings from the cache, classifier-free guidance, a sampler.

Shared by the training previews, scripts/sample.py and scripts/evaluate.py, so all three draw images the
same way. The starting noise is drawn for all prompts at once from a seed, so with the deterministic
samplers (DDIM with eta = 0, DPM-Solver++) a prompt's image does not depend on the batch size it was
sampled in; the stochastic ones (DDPM, DDIM with eta > 0) draw step noise per batch, so there the same
seed and the same batch size give the same images.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from diffusion.guidance import conditional_model_fn, guided_model_fn
from diffusion.samplers import get_sampler
from diffusion.schedules import Schedule
from training.embedding_cache import EmbeddingCache


@dataclass
class SamplerSettings:
    """The `sampler` config group: which sampler, how many steps, and guidance."""

    name: str = "ddim"
    num_steps: int | None = 50
    spacing: str = "trailing"
    clip_x0: bool = True
    guidance_scale: float = 2.0
    guidance_rescale: float = 0.0
    options: dict = field(default_factory=dict)  # sampler-specific: eta (ddim), variance (ddpm)

    def tag(self) -> str:
        """A short name for file names, e.g. ddim50_g2."""
        return f"{self.name}{self.num_steps or 'all'}_g{self.guidance_scale:g}"

    def describe(self) -> str:
        """For messages, e.g. "ddim, 50 steps, guidance 2"."""
        return f"{self.name}, {self.num_steps or 'all'} steps, guidance {self.guidance_scale:g}"


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> [0, 255] uint8."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


@torch.no_grad()
def sample_images(model, schedule: Schedule, prediction_type: str, cache: EmbeddingCache, prompts: list[str],
                  settings: SamplerSettings, noise: torch.Tensor, *, batch_size: int = 64, precision: str = "fp32",
                  generator: torch.Generator | None = None, callback=None, first_stage=None) -> torch.Tensor:
    """prompts (N) and noise (N, c, h, w) -> images (N, C, H, W) uint8. `model` should be in eval mode.
    `first_stage` (generation/first_stage.py) decodes what the sampler returns to pixels; None = pixel space."""
    device = noise.device
    sampler = get_sampler(settings.name)
    rows = cache.rows(prompts)
    null = cache.lookup(torch.tensor([cache.null_row])).as_model_kwargs()
    # Latents are not confined to [-1, 1]: clipping the x0 estimate there is only right in pixel space.
    clip_x0 = settings.clip_x0 and (first_stage is None or first_stage.bounded)
    out = []
    for start in range(0, len(prompts), batch_size):
        cond = cache.lookup(rows[start : start + batch_size]).as_model_kwargs()
        cond = {k: v.to(device) for k, v in cond.items()}
        if settings.guidance_scale == 1.0:
            model_fn = conditional_model_fn(model, cond)
        else:
            uncond = {k: v.to(device) for k, v in null.items()}
            model_fn = guided_model_fn(model, cond, uncond, settings.guidance_scale, settings.guidance_rescale)
        with autocast(device, precision):
            x = sampler(model_fn, noise[start : start + batch_size], schedule, prediction_type=prediction_type,
                        num_steps=settings.num_steps, spacing=settings.spacing, clip_x0=clip_x0,
                        generator=generator, callback=callback, **settings.options)
        out.append(to_uint8(x if first_stage is None else first_stage.decode(x)))
    return torch.cat(out)


def fixed_noise(n: int, channels: int, image_size: int, seed: int, device) -> torch.Tensor:
    """(n, C, H, W) standard normal noise drawn on the CPU from `seed`: identical on every device."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, image_size, image_size, generator=g).to(device)


def make_generate(model, schedule: Schedule, prediction_type: str, cache: EmbeddingCache, settings: SamplerSettings,
                  shape: tuple[int, int], seed: int, device, precision: str = "fp32", batch_size: int = 64,
                  first_stage=None):
    """generate(prompts) -> uint8 images, drawing each call's noise from `seed`: the evaluation
    functions take this, so they do not depend on how a model is stored or sampled. `shape` is
    (channels, size) of what the model diffuses (latents in a latent run; `first_stage` decodes them)."""
    channels, image_size = shape

    def generate(prompts: list[str]) -> torch.Tensor:
        noise = fixed_noise(len(prompts), channels, image_size, seed, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        return sample_images(model, schedule, prediction_type, cache, prompts, settings, noise,
                             batch_size=batch_size, precision=precision, generator=generator,
                             first_stage=first_stage).cpu()

    return generate
