"""Editing a trained model's images: img2img and inpainting, through the same chain as text-to-image.

Each function takes a Denoiser, plain tensors and SamplerSettings, and returns (images (N, C, H, W) uint8,
params): params is what was actually used (start step and timestep, steps run, model calls, seed, mask
statistics), for the JSON sidecar. The starting noise and the sampler's generator come from `seed` as in
text-to-image (generation/sampling.py), so strength 1 and an all-white mask reproduce text-to-image
bitwise; the re-noising of known pixels draws from a second generator, seeded seed + 1.
"""
from __future__ import annotations

from dataclasses import asdict

import torch

from diffusion.img2img import img2img as img2img_chain
from diffusion.inpainting import blend, repaint, repaint_schedule
from diffusion.inpainting import paste_back as paste
from diffusion.timesteps import sampling_timesteps
from generation.sampling import Denoiser, SamplerSettings, autocast, bound_sampler, fixed_noise, to_uint8

INPAINT_METHODS = ("blend", "repaint")


def _sampler_args(denoiser: Denoiser, settings: SamplerSettings, seed: int) -> tuple:
    """(the bound sampler, num_steps, the sampler's generator seeded like text-to-image's)."""
    return (bound_sampler(settings, denoiser.prediction_type), settings.num_steps or denoiser.schedule.num_timesteps,
            torch.Generator(device=denoiser.device).manual_seed(seed))


def settings_params(settings: SamplerSettings, seed: int) -> dict:
    return {"sampler": asdict(settings), "seed": seed}


@torch.no_grad()
def img2img(denoiser: Denoiser, images: torch.Tensor, prompts: list[str], settings: SamplerSettings, *,
            strength: float, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """SDEdit on images (N, C, H, W) in [-1, 1], one prompt each (diffusion/img2img.py); in a latent run on
    their latents."""
    settings = denoiser.chain_settings(settings)
    sampler, num_steps, generator = _sampler_args(denoiser, settings, seed)
    noise = fixed_noise(len(images), *denoiser.shape, seed, denoiser.device)
    model_fn = denoiser.model_fn(prompts, settings)
    with autocast(denoiser.device, denoiser.precision):
        x, start = img2img_chain(sampler, model_fn, denoiser.encode(images), noise, denoiser.schedule, strength=strength,
                                 num_steps=num_steps, spacing=settings.spacing, generator=generator)
    timesteps = sampling_timesteps(denoiser.schedule.num_timesteps, num_steps, settings.spacing).tolist()
    params = {"strength": strength, "start_step": start, "start_timestep": timesteps[start] if start < num_steps else None,
              "steps_run": num_steps - start, "model_calls": num_steps - start, **settings_params(settings, seed)}
    return denoiser.to_uint8(x), params


def check_inpaint_method(method: str) -> None:
    if method not in INPAINT_METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; valid choices: {', '.join(INPAINT_METHODS)}")


@torch.no_grad()
def inpaint(denoiser: Denoiser, images: torch.Tensor, mask: torch.Tensor, prompts: list[str], settings: SamplerSettings,
            *, method: str = "blend", jump_length: int = 10, jump_n_sample: int = 10, paste_back: bool = True,
            seed: int = 0) -> tuple[torch.Tensor, dict]:
    """Regenerate images (N, C, H, W) in [-1, 1] where mask (N or 1, 1, H, W) bool is true
    (diffusion/inpainting.py). paste_back puts the input back exactly outside the mask. In a latent run the
    chain runs on the latents with the mask on the latent grid (first_stage.model_mask), and paste_back
    works on the decoded pixels, so outside the mask the input is still exact."""
    check_inpaint_method(method)
    settings = denoiser.chain_settings(settings)
    sampler, num_steps, generator = _sampler_args(denoiser, settings, seed)
    noise = fixed_noise(len(images), *denoiser.shape, seed, denoiser.device)
    model_fn = denoiser.model_fn(prompts, settings)
    kwargs = dict(num_steps=num_steps, spacing=settings.spacing, generator=generator,
                  blend_generator=torch.Generator().manual_seed(seed + 1))
    with autocast(denoiser.device, denoiser.precision):
        known, model_mask = denoiser.encode(images), denoiser.first_stage.model_mask(mask)
        if method == "blend":
            x = blend(sampler, model_fn, noise, known, model_mask, denoiser.schedule, **kwargs)
            calls = num_steps
        else:
            x = repaint(sampler, model_fn, noise, known, model_mask, denoiser.schedule, jump_length=jump_length,
                        jump_n_sample=jump_n_sample, **kwargs)
            positions = repaint_schedule(num_steps, jump_length, jump_n_sample)
            calls = sum(b > a for a, b in zip(positions, positions[1:]))
    x = denoiser.first_stage.decode(x.float())
    x = paste(x, images, mask) if paste_back else x
    params = {"method": method, "paste_back": paste_back, "model_calls": calls,
              "mask_fraction_regenerated": mask.float().mean().item(), **settings_params(settings, seed)}
    if method == "repaint":
        params.update(jump_length=jump_length, jump_n_sample=jump_n_sample)
    return to_uint8(x), params
