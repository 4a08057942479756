"""Cross-attention maps per token, and prompt-to-prompt editing (Hertz et al. 2022), through the
`processor` slot of models/attention.py CrossAttention.

Recording returns the layer's output exactly as computed without it (`attention(q, k, v, mask)`) and
computes the probabilities separately, so hooking the maps in cannot change an image. A map is the
softmax weight of each position on a token, averaged over heads, over the steps asked for and over the
layers (each upsampled to the image size first); the start and end tokens, which soak up most of the
mass in every text encoder, are left out unless asked for.

Prompt-to-prompt runs the source and the target prompt side by side from the same noise (one batch:
sources, then targets) and, for the first `cross_replace` fraction of the steps, gives the target's
tokens that the source shares (common prefix and suffix; a changed middle of equal length word by word,
the paper's word swap) the source's attention maps, so the layout stays and only the changed words'
values move. Only rows where the injection changes the probabilities take the explicit (p @ v) path, so
identical prompts give text-to-image bitwise. With DDPM or DDIM eta > 0 the two halves draw different
step noise; the deterministic samplers are the ones to edit with.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F

from generation.sampling import Denoiser, SamplerSettings, binding_start, fixed_noise, run_chain
from models.attention import attention, attention_probabilities, processors


class StepCounter:
    """Wraps a model_fn and counts its calls: the processors read `step` (one call per sampler step)."""

    def __init__(self, model_fn):
        self.model_fn, self.step = model_fn, -1
        self.self_conditioned = getattr(model_fn, "self_conditioned", False)

    def __call__(self, xt, t, *previous_x0):
        self.step += 1
        return self.model_fn(xt, t, *previous_x0)


class MapRecorder:
    """processor that sums the head-averaged maps of the first `rows` rows (the conditional half under
    guidance) for the chosen steps (None: all): per resolution, (rows, L, res, res)."""

    def __init__(self, counter: StepCounter, rows: int, steps: list[int] | None = None):
        self.counter, self.rows, self.steps = counter, rows, None if steps is None else set(steps)
        self.sums: dict[int, torch.Tensor] = {}
        self.counts: dict[int, int] = {}

    def __call__(self, q, k, v, mask):
        out = attention(q, k, v, mask)
        if self.steps is None or self.counter.step in self.steps:
            p = attention_probabilities(q, k, mask)[: self.rows].mean(1)  # (rows, N, L)
            res = math.isqrt(p.shape[1])
            p = p.transpose(1, 2).reshape(self.rows, -1, res, res).cpu()
            self.sums[res] = self.sums.get(res, 0) + p
            self.counts[res] = self.counts.get(res, 0) + 1
        return out

    def maps(self, image_size: int) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """(the average over all recorded layers and steps at image size (rows, L, S, S), per resolution
        averages (rows, L, res, res))."""
        per_res = {res: total / self.counts[res] for res, total in self.sums.items()}
        total = sum(F.interpolate(self.sums[res], size=image_size, mode="nearest") for res in self.sums)
        return total / sum(self.counts.values()), per_res


def token_names(denoiser: Denoiser, prompt: str) -> list[str]:
    return denoiser.cache.encoder.tokens(prompt)


@torch.no_grad()
def generate_with_maps(denoiser: Denoiser, prompts: list[str], settings: SamplerSettings, *, seed: int = 0,
                       steps: list[int] | None = None, noise: torch.Tensor | None = None,
                       negative_prompts: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Text-to-image (or a regeneration from given noise) while recording the maps. Returns (images (N, C,
    H, W) uint8, maps (N, L, H, W) averaged over heads, layers and steps, per-resolution maps); the maps are
    at the images' size (a latent cell's weight covers its pixels)."""
    settings = denoiser.chain_settings(settings)
    noise = fixed_noise(len(prompts), *denoiser.shape, seed, denoiser.device) if noise is None else noise
    counter = StepCounter(denoiser.model_fn(prompts, settings, negative_prompts=negative_prompts))
    recorder = MapRecorder(counter, len(prompts), steps)
    with processors(denoiser.model, recorder):
        noise, hooks = binding_start(denoiser.model, denoiser.cache, prompts, settings, denoiser.schedule,
                                     denoiser.prediction_type, noise)
        x = run_chain(counter, noise, denoiser.schedule, denoiser.prediction_type, settings, precision=denoiser.precision,
                      generator=torch.Generator(device=denoiser.device).manual_seed(seed), **hooks)
    maps, per_res = recorder.maps(denoiser.image_shape[1])
    return denoiser.to_uint8(x), maps, per_res


def token_map(source: list[str], target: list[str]) -> list[tuple[int, int]]:
    """[(target index, source index)] of the tokens the target shares with the source: the common prefix,
    the common suffix, and a changed middle of equal length position by position (a word swap)."""
    prefix = 0
    while prefix < min(len(source), len(target)) and source[prefix] == target[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(source), len(target)) - prefix and source[-1 - suffix] == target[-1 - suffix]:
        suffix += 1
    pairs = [(i, i) for i in range(prefix)] + [(len(target) - 1 - j, len(source) - 1 - j) for j in range(suffix)]
    if len(source) == len(target):
        pairs += [(i, i) for i in range(prefix, len(target) - suffix)]
    return sorted(pairs)


class PromptToPrompt:
    """processor that gives target row n + i the source row i's maps on the shared tokens, for steps
    below `inject_steps`; rows it does not change keep the output of `attention` bitwise."""

    def __init__(self, counter: StepCounter, pairs: list[list[tuple[int, int]]], inject_steps: int):
        self.counter, self.pairs, self.inject_steps = counter, pairs, inject_steps

    def __call__(self, q, k, v, mask):
        out = attention(q, k, v, mask)
        if self.counter.step >= self.inject_steps:
            return out
        n = len(self.pairs)
        p = attention_probabilities(q, k, mask)
        for i, pairs in enumerate(self.pairs):
            target, source = (torch.tensor(idx, device=q.device) for idx in zip(*pairs))
            injected = p[n + i].clone()
            injected[..., target] = p[i][..., source]
            if not torch.equal(injected, p[n + i]):
                out[n + i] = (injected @ v[n + i].float()).to(out.dtype)
        return out


@torch.no_grad()
def prompt_to_prompt(denoiser: Denoiser, source_prompts: list[str], prompts: list[str], settings: SamplerSettings, *,
                     cross_replace: float = 0.8, seed: int = 0, noise: torch.Tensor | None = None,
                     negative_prompts: list[str] | None = None) -> tuple[torch.Tensor, dict]:
    """Target images (N, C, H, W) uint8 edited from the source prompts' generation (from `noise`, e.g. an
    inversion's, or from seed), and params."""
    if not 0 <= cross_replace <= 1:
        raise ValueError(f"cross_replace must be in [0, 1], got {cross_replace:g}")
    n = len(prompts)
    settings = denoiser.chain_settings(settings)
    noise = fixed_noise(n, *denoiser.shape, seed, denoiser.device) if noise is None else noise
    pairs = [token_map(token_names(denoiser, s), token_names(denoiser, t)) for s, t in zip(source_prompts, prompts)]
    negatives = None if negative_prompts is None else [*negative_prompts, *negative_prompts]
    counter = StepCounter(denoiser.model_fn([*source_prompts, *prompts], settings, negative_prompts=negatives))
    num_steps = settings.num_steps or denoiser.schedule.num_timesteps
    inject_steps = round(cross_replace * num_steps)
    with processors(denoiser.model, PromptToPrompt(counter, pairs, inject_steps)):
        x = run_chain(counter, torch.cat([noise, noise]), denoiser.schedule, denoiser.prediction_type, settings,
                      precision=denoiser.precision, generator=torch.Generator(device=denoiser.device).manual_seed(seed))
    params = {"source_prompts": source_prompts, "prompts": prompts, "cross_replace": cross_replace,
              "inject_steps": inject_steps, "shared_tokens": [len(p) for p in pairs], "sampler": asdict(settings),
              "seed": seed, "model_calls": num_steps}
    return denoiser.to_uint8(x[n:]), params


def heatmap_cells(image: torch.Tensor, maps: torch.Tensor, tokens: list[str], include_special: bool = False
                  ) -> tuple[torch.Tensor, list[str]]:
    """The cells of a captioned grid: the image (C, H, W) uint8, then one heat map per token (maps (L, H, W),
    each scaled to its own maximum, black -> red -> yellow -> white) -> ((1 + T, 3, H, W) uint8, captions).
    The first and last token (start / end) are left out unless include_special."""
    keep = list(range(len(tokens))) if include_special else list(range(1, len(tokens) - 1))
    heat = maps[keep] / maps[keep].amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    rgb = torch.stack([(3 * heat).clamp(0, 1), (3 * heat - 1).clamp(0, 1), (3 * heat - 2).clamp(0, 1)], dim=1)
    cells = torch.cat([image.expand(3, -1, -1).unsqueeze(0).cpu(), (rgb * 255).round().to(torch.uint8)])
    return cells, ["image", *(tokens[i] for i in keep)]


def mass_inside(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """The pointing game: the fraction of each map's mass inside region. maps (..., H, W), region (H, W) bool."""
    return (maps * region).sum((-1, -2)) / maps.sum((-1, -2)).clamp_min(1e-12)
