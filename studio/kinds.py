"""One function per job kind, each a thin call into generation/: (runner, spec, loaded run, settings, entry
folder) -> (images, params). They read inputs out of the spec and leave progress, timing and saving to
jobs.py, so every kind is reported and stored the same way.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from generation.attention_maps import generate_with_maps, heatmap_cells, token_names
from generation.editing import check_inpaint_method, img2img, inpaint
from generation.grid import caption_grid
from generation.inversion import invert, invert_and_regenerate
from generation.sampling import fixed_noise, sample_images, to_uint8
from generation.trajectory import load_trajectory, rewind, sample_with_trajectory, save_trajectory
from schemas.check import ConfigError
from studio.codec import decode_image, image_tensor, mask_tensor
from studio.spec import JobSpec

TRAJECTORY = "trajectory"


def need(spec: JobSpec, *keys: str) -> None:
    for key in keys:
        if getattr(spec, key) in (None, ""):
            raise ConfigError(f"kind={spec.kind} needs {key}")


def generate(runner, spec, loaded, settings, folder):
    """Text-to-image with its trajectory saved beside the images (the step slider and branches read it)."""
    need(spec, "prompt")
    images, trajectory = sample_with_trajectory(loaded.denoiser(runner.precision), [spec.prompt] * spec.batch, settings, spec.seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_trajectory(trajectory, folder / TRAJECTORY)
    return images, {"prompts": trajectory.prompts, "trajectory_steps": len(trajectory)}


def branch(runner, spec, loaded, settings, folder):
    """Rewind the parent's trajectory to spec.step and continue image spec.index with spec.prompt and seed
    (the parent's own seed restores its random state: same prompt + seed = the parent's image bitwise)."""
    need(spec, "parent")
    trajectory, _ = load_trajectory(runner.history.folder(spec.parent) / f"{TRAJECTORY}.safetensors")
    image, params = rewind(loaded.denoiser(runner.precision), trajectory, spec.step, spec.prompt or None,
                           index=spec.index, seed=spec.seed, guidance_scale=spec.guidance_scale)
    return image, {**params, "parent": spec.parent}


def _input(spec, loaded, runner):
    need(spec, "image")
    return image_tensor(decode_image(spec.image), loaded.image_shape, runner.device)


def img2img_job(runner, spec, loaded, settings, folder):
    need(spec, "prompt")
    return img2img(loaded.denoiser(runner.precision), _input(spec, loaded, runner), [spec.prompt], settings,
                   strength=spec.strength, seed=spec.seed)


def inpaint_job(runner, spec, loaded, settings, folder):
    """Images: the result, the input and the mask as the model saw them (white = regenerated)."""
    need(spec, "prompt", "image", "mask")
    method = spec.method or "blend"
    check_inpaint_method(method)
    picture, drawn = decode_image(spec.image), decode_image(spec.mask, "mask")
    image = image_tensor(picture, loaded.image_shape, runner.device)
    mask = mask_tensor(drawn, picture, loaded.image_shape[1], runner.device)
    out, params = inpaint(loaded.denoiser(runner.precision), image, mask, [spec.prompt], settings, method=method, seed=spec.seed)
    shown = [out[0].cpu(), to_uint8(image[0]).cpu(), (mask[0].to(torch.uint8) * 255).cpu()]
    return shown, {**params, "images": ["result", "input", "mask"]}


def invert_job(runner, spec, loaded, settings, folder):
    """Images: the input as the model sees it, its reconstruction, and the edit under spec.prompt."""
    need(spec, "source_prompt", "prompt")
    method = spec.method or "negative_prompt"
    denoiser, image = loaded.denoiser(runner.precision), _input(spec, loaded, runner)
    source = [spec.source_prompt]
    reconstruction, params = invert_and_regenerate(denoiser, image, source, None, settings, method=method, seed=spec.seed)
    edited, _ = invert_and_regenerate(denoiser, image, source, [spec.prompt], settings, method=method, seed=spec.seed)
    return torch.cat([to_uint8(image).cpu(), reconstruction.cpu(), edited.cpu()]), {**params, "prompts": [spec.prompt],
                                                                     "images": ["input", "reconstruction", "edit"]}


def attention(runner, spec, loaded, settings, folder):
    """Images: the generated (or, with an image, the inverted) image and a grid of per-token heat maps."""
    denoiser, noise, negative, prompt = loaded.denoiser(runner.precision), None, None, spec.prompt
    if spec.image:
        need(spec, "source_prompt")
        noise = invert(denoiser, _input(spec, loaded, runner), [spec.source_prompt], settings)
        negative, prompt = [spec.source_prompt], spec.source_prompt
    if not prompt:
        need(spec, "prompt")
    images, maps, per_res = generate_with_maps(denoiser, [prompt], settings, seed=spec.seed, noise=noise,
                                               negative_prompts=negative)
    tokens = token_names(denoiser, prompt)
    cells, captions = heatmap_cells(images[0], maps[0, : len(tokens)], tokens)
    grid = torch.from_numpy(np.array(caption_grid(cells, captions))).permute(2, 0, 1)
    return [images[0], grid], {"prompt": prompt, "tokens": tokens, "layer_resolutions": sorted(per_res)}


def compare(runner, spec, loaded, settings, folder):
    """The same prompt, seed and sampler settings on this checkpoint and another (of this run or another)."""
    need(spec, "prompt")
    other = runner.loaded(spec.other_run or runner.run, spec.other_checkpoint)
    if tuple(other.image_shape) != tuple(loaded.image_shape):
        raise ConfigError(f"cannot compare: {loaded.checkpoint} makes {loaded.image_shape} images, {other.checkpoint} "
                          f"{other.image_shape}")
    images = []
    for run in (loaded, other):
        noise = fixed_noise(1, *run.shape, spec.seed, runner.device)
        images.append(sample_images(run.model, run.schedule, run.cfg.prediction_type, run.cache, [spec.prompt], settings,
                                    noise, generator=torch.Generator(device=runner.device).manual_seed(spec.seed),
                                    first_stage=run.first_stage).cpu())
    return torch.cat(images), {"checkpoints": [str(loaded.checkpoint), str(other.checkpoint)], "sampler": asdict(settings)}


KINDS = {"generate": generate, "branch": branch, "img2img": img2img_job, "inpaint": inpaint_job, "invert": invert_job,
         "attention": attention, "compare": compare}
