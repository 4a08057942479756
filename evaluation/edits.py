"""Measuring edits on the shapes data, where the shapes reader (evaluation/shapes_reader.py) tells
whether an edit did what its prompt says.

Sources are images of attribute dicts {colour, shape, size, position}, both the model's own samples
and freshly rendered dataset images, held-in and held-out (colour, shape) pairs. Measured:
- inversion: reconstruction PSNR (dB) per number of steps, guidance and inversion method;
- attribute edits: invert (or img2img) and regenerate with one attribute changed; success = the reader
  sees the target's four attributes (the changed one and the three kept);
- inpainting: the object's box masked, another colour or shape prompted: success and the largest pixel
  change outside the mask, blend vs RePaint at the same number of model calls;
- attention: the share of the colour and shape tokens' attention inside the object (pointing game),
  per layer resolution.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from data.shapes import COLOURS, SHAPES, SIZES, combinations, prompt, render_batch
from evaluation.shapes_reader import judge
from generation.attention_maps import generate_with_maps, mass_inside, prompt_to_prompt, token_names
from generation.editing import img2img, inpaint
from generation.inversion import invert, invert_and_regenerate
from generation.sampling import Denoiser, SamplerSettings, fixed_noise, sample_images, to_uint8


def pick_sources(held_out_pairs, count: int, seed: int) -> dict[str, list[dict]]:
    """`count` attribute dicts from the held-in and from the held-out combinations."""
    rng = np.random.default_rng(seed)
    held_in, held_out = combinations(held_out_pairs)
    return {name: [pool[i] for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
            for name, pool in (("held_in", held_in), ("held_out", held_out)) if pool}


def source_images(denoiser: Denoiser, attrs: list[dict], kind: str, settings: SamplerSettings, seed: int) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1]: the model's samples of the prompts, or rendered dataset images."""
    if kind == "samples":
        noise = fixed_noise(len(attrs), *denoiser.shape, seed, denoiser.device)
        images = sample_images(denoiser.model, denoiser.schedule, denoiser.prediction_type, denoiser.cache,
                               [prompt(**a) for a in attrs], settings, noise, precision=denoiser.precision,
                               generator=torch.Generator(device=denoiser.device).manual_seed(seed),
                               first_stage=denoiser.first_stage)
        return images.float() / 127.5 - 1
    return render_batch(attrs, denoiser.image_shape[1], seed).to(denoiser.device)


def changed(attrs: dict, attribute: str) -> dict:
    """attrs with `attribute` moved to the next value of its vocabulary."""
    values = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}[attribute]
    return {**attrs, attribute: values[(values.index(attrs[attribute]) + 1) % len(values)]}


def success(images: torch.Tensor, targets: list[dict]) -> float:
    return float(np.mean([all(judge(image.cpu(), target).values()) for image, target in zip(images, targets)]))


def inversion_psnr(denoiser, images, attrs, settings, steps: list[int], guidances: list[float]) -> list[dict]:
    rows = []
    for num_steps in steps:
        for guidance in guidances:
            for method in ("plain", "negative_prompt"):
                s = dataclasses.replace(settings, num_steps=num_steps, guidance_scale=guidance)
                _, params = invert_and_regenerate(denoiser, images, [prompt(**a) for a in attrs], None, s, method=method)
                rows.append({"steps": num_steps, "guidance": guidance, "method": method,
                             "psnr": float(np.mean(params["psnr_to_input"]))})
    return rows


def attribute_edits(denoiser, images, attrs, settings, strengths=(0.5, 0.7), seed: int = 0) -> list[dict]:
    """Success per attribute and method."""
    rows = []
    sources = [prompt(**a) for a in attrs]
    for attribute in ("colour", "shape", "size"):
        targets = [changed(a, attribute) for a in attrs]
        prompts = [prompt(**t) for t in targets]
        results = {}
        for method in ("plain", "negative_prompt"):
            results[f"inversion_{method}"] = invert_and_regenerate(denoiser, images, sources, prompts, settings,
                                                                   method=method, seed=seed)[0]
        noise = invert(denoiser, images, sources, settings, "negative_prompt")
        results["negative_prompt+p2p"] = prompt_to_prompt(denoiser, sources, prompts, settings, noise=noise,
                                                          negative_prompts=sources, seed=seed)[0]
        for strength in strengths:
            results[f"img2img_{strength:g}"] = img2img(denoiser, images, prompts, settings, strength=strength, seed=seed)[0]
        rows += [{"attribute": attribute, "method": m, "success": success(out, targets)} for m, out in results.items()]
    return rows


def object_box(images: torch.Tensor, margin: int = 1) -> torch.Tensor:
    """(N, 1, H, W) bool: the bounding box of each image's non-background pixels, grown by margin."""
    lit = (to_uint8(images).amax(1) > 40).cpu()
    masks = torch.zeros(len(images), 1, *lit.shape[1:], dtype=torch.bool)
    for i, region in enumerate(lit):
        rows, cols = region.any(1).nonzero(), region.any(0).nonzero()
        if len(rows):
            masks[i, 0, max(rows.min() - margin, 0) : rows.max() + margin + 1,
                  max(cols.min() - margin, 0) : cols.max() + margin + 1] = True
    return masks.to(images.device)


def inpainting(denoiser, images, attrs, settings, repaint_steps: int, jump_length: int, jump_n_sample: int,
               seed: int = 0) -> list[dict]:
    """Blend and RePaint at the same number of model calls (blend runs as many steps as RePaint calls)."""
    masks = object_box(images)
    targets = [changed(a, "colour" if i % 2 == 0 else "shape") for i, a in enumerate(attrs)]
    prompts = [prompt(**t) for t in targets]
    repaint_settings = dataclasses.replace(settings, num_steps=repaint_steps)
    out_r, params_r = inpaint(denoiser, images, masks, prompts, repaint_settings, method="repaint", jump_length=jump_length,
                              jump_n_sample=jump_n_sample, seed=seed)
    blend_steps = min(params_r["model_calls"], denoiser.schedule.num_timesteps)
    out_b, params_b = inpaint(denoiser, images, masks, prompts, dataclasses.replace(settings, num_steps=blend_steps),
                              method="blend", seed=seed)
    rows = []
    for method, out, params in (("blend", out_b, params_b), ("repaint", out_r, params_r)):
        diff = (out.int() - to_uint8(images).int()).abs().masked_fill(masks, 0)
        rows.append({"method": method, "model_calls": params["model_calls"], "success": success(out, targets),
                     "max_abs_diff_outside_mask": int(diff.max())})
    return rows


def pointing_game(denoiser, attrs, settings, seed: int = 0) -> list[dict]:
    """Share of the colour / shape token's attention inside the object, per layer resolution."""
    prompts = [prompt(**a) for a in attrs]
    images, _, per_res = generate_with_maps(denoiser, prompts, settings, seed=seed)
    masks = object_box(images.float() / 127.5 - 1, margin=0)[:, 0].cpu()
    rows = []
    for res, maps in sorted(per_res.items()):
        maps = F.interpolate(maps, size=denoiser.image_shape[1], mode="nearest")
        for word in ("colour", "shape"):
            shares = []
            for i, a in enumerate(attrs):
                tokens = token_names(denoiser, prompts[i])
                if a[word] in tokens and masks[i].any():
                    shares.append(float(mass_inside(maps[i, tokens.index(a[word])], masks[i])))
            rows.append({"resolution": res, "token": word, "mass_inside": float(np.mean(shares)) if shares else None,
                         "images": len(shares)})
    return rows
