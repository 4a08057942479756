"""Inverting a real image into the noise that regenerates it, then regenerating under another prompt.

    plain            DDIM inversion (diffusion/inversion.py) with the same guided model as the regeneration
                     (source prompt against the empty one); exact at guidance 1, drifts when guidance > 1
    negative_prompt  Miyake et al. 2023: invert with the source prompt alone (guidance 1), regenerate at
                     the settings' guidance with the source prompt as the negative (unconditional) one;
                     target = source then reconstructs the image at any guidance
The regeneration runs the settings' sampler from the inverted noise; DDIM (eta 0) is its exact reverse.
"""
from __future__ import annotations

from dataclasses import asdict

import torch

from diffusion.inversion import check_inversion_method, ddim_invert
from generation.sampling import Denoiser, SamplerSettings, autocast, run_chain, to_uint8
from schemas.check import ConfigError


def psnr(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Per-image PSNR in dB between uint8 images (N, C, H, W)."""
    mse = ((a.float() - b.float()) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).tolist()


@torch.no_grad()
def invert(denoiser: Denoiser, images: torch.Tensor, source_prompts: list[str], settings: SamplerSettings,
           method: str = "negative_prompt") -> torch.Tensor:
    """The inverted noise of images (N, C, H, W) in [-1, 1] under their source prompts, in the model's space
    ((N, C, H, W), or the latents' shape in a latent run)."""
    check_inversion_method(method)
    if getattr(denoiser.model, "guidance_embedding", False):
        raise ConfigError("inversion runs the deterministic DDIM ODE of a diffusion model, which a distilled few-step "
                          "student is not: invert with its teacher run (the student's config names it: teacher.run)")
    scale = 1.0 if method == "negative_prompt" else None
    model_fn = denoiser.model_fn(source_prompts, settings, guidance_scale=scale)
    with autocast(denoiser.device, denoiser.precision):
        latents = ddim_invert(model_fn, denoiser.encode(images), denoiser.schedule, prediction_type=denoiser.prediction_type,
                              num_steps=settings.num_steps, spacing=settings.spacing)
    return latents[0].float()


@torch.no_grad()
def invert_and_regenerate(denoiser: Denoiser, images: torch.Tensor, source_prompts: list[str], prompts: list[str] | None,
                          settings: SamplerSettings, *, method: str = "negative_prompt", seed: int = 0
                          ) -> tuple[torch.Tensor, dict]:
    """Invert images under source_prompts and regenerate under prompts (None: the source ones, a
    reconstruction). Returns (uint8 images, params with the reconstruction PSNR against the input)."""
    prompts = list(source_prompts) if prompts is None else prompts
    settings = denoiser.chain_settings(settings)
    noise = invert(denoiser, images, source_prompts, settings, method)
    negative = source_prompts if method == "negative_prompt" else None
    model_fn = denoiser.model_fn(prompts, settings, negative_prompts=negative)
    x = run_chain(model_fn, noise, denoiser.schedule, denoiser.prediction_type, settings, precision=denoiser.precision,
                  generator=torch.Generator(device=denoiser.device).manual_seed(seed))
    out = denoiser.to_uint8(x)
    params = {"method": method, "source_prompts": source_prompts, "prompts": prompts, "sampler": asdict(settings),
              "seed": seed, "model_calls": 2 * (settings.num_steps or denoiser.schedule.num_timesteps),
              "psnr_to_input": psnr(out, to_uint8(images))}
    return out, params
