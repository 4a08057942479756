"""Edit images with a trained run: img2img, inpainting, inversion, rewinding a trajectory, attention maps.

    python scripts/edit.py mode=img2img run=<run> image=in.png prompt="a large blue square in the center" strength=0.6
    python scripts/edit.py mode=inpaint run=<run> image=in.png mask=mask.png prompt="..." method=blend|repaint
    python scripts/edit.py mode=invert run=<run> image=in.png source_prompt="..." prompt="..." method=negative_prompt|plain
    python scripts/edit.py mode=invert run=<run> image=in.png source_prompt="..." prompt="..." cross_replace=0.8   (+ prompt-to-prompt)
    python scripts/edit.py mode=rewind trajectory=<sample out>/trajectory.safetensors step=10 prompt="..." index=0
    python scripts/edit.py mode=attention run=<run> prompt="..."       (or image=in.png source_prompt="...")

Masks: white = regenerate (mask_invert=true for the opposite). Every mode writes <out>/000.png (and
001.png ... where it makes several) and <out>/result.json with the parameters actually used. The work is
done by generation/ (editing, inversion, trajectory, attention_maps); this file only reads the command line.
"""
from __future__ import annotations

import datetime
from dataclasses import asdict
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, open_dict

from diffusion.img2img import start_step
from diffusion.inversion import INVERSION_METHODS
from generation.attention_maps import generate_with_maps, heatmap_cells, prompt_to_prompt, token_names
from generation.editing import INPAINT_METHODS, img2img, inpaint
from generation.grid import caption_grid
from generation.images import check_mask_size, load_image, load_mask, open_image, save_results
from generation.inversion import invert, invert_and_regenerate
from generation.loading import load_for_sampling, run_or_exit
from generation.trajectory import load_trajectory, rewind
from schemas.check import ConfigError
from schemas.command_line import exit_if_invalid

DEFAULT_METHODS = {"inpaint": INPAINT_METHODS, "invert": INVERSION_METHODS}


def require(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        if cfg.get(key) is None:
            raise ConfigError(f"mode={cfg.mode} needs {key}=...")


def method(cfg: DictConfig) -> str:
    choices = DEFAULT_METHODS[cfg.mode]
    chosen = cfg.method or ("blend" if cfg.mode == "inpaint" else "negative_prompt")
    if chosen not in choices:
        raise ConfigError(f"unknown method {chosen!r} for mode={cfg.mode}; valid choices: {', '.join(choices)}")
    return chosen


def preflight(cfg: DictConfig) -> None:
    """The checks that need no model: mode, method, strength, and that the input files are images of one size."""
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.mode!r}; valid choices: {', '.join(MODES)}")
    if cfg.mode in DEFAULT_METHODS:
        method(cfg)
    if cfg.mode == "img2img":
        try:
            start_step(1, cfg.strength)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    if cfg.image is not None and cfg.mode != "rewind":
        open_image(cfg.image)
        if cfg.mode == "inpaint" and cfg.mask is not None:
            check_mask_size(cfg.mask, cfg.image)


def run_img2img(cfg, denoiser, settings):
    require(cfg, "image", "prompt")
    image = load_image(cfg.image, denoiser.image_shape, denoiser.device)
    return img2img(denoiser, image, [cfg.prompt], settings, strength=cfg.strength, seed=cfg.seed)


def run_inpaint(cfg, denoiser, settings):
    require(cfg, "image", "mask", "prompt")
    chosen = method(cfg)
    image = load_image(cfg.image, denoiser.image_shape, denoiser.device)
    mask = load_mask(cfg.mask, cfg.image, denoiser.image_shape[1], cfg.mask_invert, denoiser.device)
    images, params = inpaint(denoiser, image, mask, [cfg.prompt], settings, method=chosen, jump_length=cfg.jump_length,
                             jump_n_sample=cfg.jump_n_sample, paste_back=cfg.paste_back, seed=cfg.seed)
    return images, {**params, "mask_invert": cfg.mask_invert}


def run_invert(cfg, denoiser, settings):
    require(cfg, "image", "source_prompt")
    chosen = method(cfg)
    image = load_image(cfg.image, denoiser.image_shape, denoiser.device)
    prompts = None if cfg.prompt is None else [cfg.prompt]
    if cfg.cross_replace is None:
        return invert_and_regenerate(denoiser, image, [cfg.source_prompt], prompts, settings, method=chosen, seed=cfg.seed)
    # Attention-guided: the source's cross-attention maps steer the target's generation from the same noise.
    require(cfg, "prompt")
    noise = invert(denoiser, image, [cfg.source_prompt], settings, chosen)
    negative = [cfg.source_prompt] if chosen == "negative_prompt" else None
    images, params = prompt_to_prompt(denoiser, [cfg.source_prompt], prompts, settings, cross_replace=cfg.cross_replace,
                                      seed=cfg.seed, noise=noise, negative_prompts=negative)
    return images, {**params, "method": f"{chosen}+prompt_to_prompt"}


def run_rewind(cfg, denoiser, settings, trajectory):
    if cfg.sampler is not None or cfg.num_steps is not None:
        raise ConfigError("mode=rewind continues the trajectory's own chain: sampler and num_steps cannot change "
                          "(guidance_scale, guidance_rescale, seed and prompt can)")
    return rewind(denoiser, trajectory, cfg.step, cfg.prompt, index=cfg.index, seed=cfg.seed,
                  guidance_scale=cfg.guidance_scale, guidance_rescale=cfg.guidance_rescale, renoise_step=cfg.renoise_step)


def run_attention(cfg, denoiser, settings):
    """000.png: the image; 001.png: it and one heat map per token, captioned."""
    noise, negative, prompt = None, None, cfg.prompt
    if cfg.image is not None:
        require(cfg, "source_prompt")
        image = load_image(cfg.image, denoiser.image_shape, denoiser.device)
        noise, negative, prompt = invert(denoiser, image, [cfg.source_prompt], settings), [cfg.source_prompt], cfg.source_prompt
    if prompt is None:
        require(cfg, "prompt")
    steps = None if cfg.attention_steps is None else list(cfg.attention_steps)
    images, maps, per_res = generate_with_maps(denoiser, [prompt], settings, seed=cfg.seed, steps=steps, noise=noise,
                                               negative_prompts=negative)
    tokens = token_names(denoiser, prompt)
    cells, captions = heatmap_cells(images[0], maps[0, : len(tokens)], tokens, cfg.include_special_tokens)
    grid = torch.from_numpy(np.array(caption_grid(cells, captions))).permute(2, 0, 1)
    params = {"prompt": prompt, "tokens": tokens, "attention_steps": steps, "layer_resolutions": sorted(per_res),
              "inverted_from_image": cfg.image is not None, "sampler": asdict(settings), "seed": cfg.seed}
    return [images[0], grid], params


MODES = {"img2img": run_img2img, "inpaint": run_inpaint, "invert": run_invert, "rewind": run_rewind,
         "attention": run_attention}


def edit(cfg: DictConfig) -> Path:
    preflight(cfg)
    extra = ()
    if cfg.mode == "rewind":
        require(cfg, "trajectory", "step")
        trajectory, meta = load_trajectory(cfg.trajectory)
        extra = (trajectory,)
        with open_dict(cfg):
            cfg.run = cfg.run or meta.get("run")
    elif cfg.seed is None:
        with open_dict(cfg):
            cfg.seed = 0
    require(cfg, "run")
    run, settings, _ = load_for_sampling(cfg)
    images, params = MODES[cfg.mode](cfg, run.denoiser(cfg.precision), settings, *extra)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / "edits" / f"{cfg.mode}_{stamp}"
    params = {"mode": cfg.mode, "run": str(cfg.run), "checkpoint": str(run.checkpoint), "image": cfg.image,
              "mask": cfg.mask, **params}
    save_results(out, images, params)
    print(f"{cfg.mode}: {len(images)} image(s) from {run.checkpoint} -> {out}")
    return out


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="edit")
def main(cfg: DictConfig) -> None:
    run_or_exit(edit, cfg)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parents[1] / "configs" / "scripts", "edit")
    main()
