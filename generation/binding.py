"""Training-free binding at sampling time: sampler options (`binding` in the sampler config) that make a trained
model draw each object of a prompt, each in its own colour, without training it again.

- `composable`: Composable Diffusion (Liu et al. 2022, "Compositional Visual Generation with Composable Diffusion
  Models", eq. 9) for "A and B" prompts: the guided output is uncond + w sum_i (cond_i - uncond), one term per
  phrase; one more network call per step than classifier-free guidance. Prompts without " and " sample as usual.
- `attend_excite`: Attend-and-Excite (Chefer et al. 2023, Algorithm 1): over the first `binding_steps` fraction of
  the chain, x_t is moved down the gradient of L = max over the subject nouns of (1 - the highest value of the
  noun's smoothed cross-attention map), so that every object named gets a place.
- `syngen`: a binding loss in the spirit of SynGen (Rassin et al. 2023, "Linguistic Binding in Diffusion Models"):
  each colour word's map should overlap its own noun's and not the other nouns', L = mean over (colour, noun) pairs
  of D(colour, noun) - mean over the other nouns n' of D(colour, n'), D a symmetric KL divergence between the
  normalised maps, moved down the same way.
Which word modifies which is known without a parser: the captions' grammar puts each colour word right before its
shape noun (data/compose_scenes.py). The maps are the conditional branch's, recorded with gradients through the
`processor` slot of models/attention.py at every cross-attention layer of the finest attended resolution.

With `binding: none` (the default) nothing here runs, and images are bitwise what they were.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from data.raster import COLOURS, SHAPES
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps
from models.attention import attention, attention_probabilities, processors

NOUNS = {**{s: s for s in SHAPES}, **{s + "s": s for s in SHAPES}}


@dataclass
class Roles:
    """Token positions of a prompt: nouns[i] the shape noun of object i, colours[i] its colour word's pieces."""

    nouns: list[int]
    colours: list[list[int]]


def token_roles(tokens: list[str]) -> Roles:
    """The shape nouns and the colour word before each, from the encoder's word pieces (special tokens included)."""
    words: list[tuple[str, list[int]]] = []
    for i, token in enumerate(tokens):
        if token.startswith("##") and words:
            words[-1] = (words[-1][0] + token[2:], words[-1][1] + [i])
        else:
            words.append((token, [i]))
    nouns, colours = [], []
    for w, (word, positions) in enumerate(words):
        if word in NOUNS:
            nouns.append(positions[0])
            before = words[w - 1] if w > 0 else ("", [])
            colours.append(before[1] if before[0] in COLOURS else [])
    return Roles(nouns, colours)


def phrases(prompt: str) -> list[str]:
    """The conjuncts of an "A and B" prompt (Composable Diffusion's concepts), or the prompt itself."""
    parts = [p.strip() for p in prompt.split(" and ")]
    return parts if len(parts) > 1 and all(parts) else [prompt]


def composable_model_fn(model, conds: list[dict], uncond: dict, weights: torch.Tensor, guidance_scale: float):
    """model_fn(x_t, t) = uncond + w sum_k weights[:, k] (cond_k - uncond), all branches in one batched call.
    conds: K keyword-argument dicts of batch B (phrase k of each prompt); weights (B, K): 1 for a prompt's phrases,
    0 where a prompt has fewer than K; uncond of batch 1 or B."""
    k, b = len(conds), weights.shape[0]
    stacked = {name: torch.cat([*(c[name] for c in conds), uncond[name].expand(b, *uncond[name].shape[1:])])
               for name in conds[0] if conds[0][name] is not None}

    def model_fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = model(xt.repeat(k + 1, 1, 1, 1), t.repeat(k + 1), **stacked).view(k + 1, b, *xt.shape[1:])
        branches, base = out[:k], out[k]
        w = weights.t().to(out.dtype).view(k, b, *[1] * (xt.ndim - 1))
        return base + guidance_scale * (w * (branches - base)).sum(0)

    model_fn.self_conditioned = False
    return model_fn


class GradientMaps:
    """processor that keeps, with gradients, the head-averaged cross-attention maps (B, N, L) of the layers at the
    finest attended resolution; the layer outputs are unchanged."""

    def __init__(self):
        self.maps: dict[int, list[torch.Tensor]] = {}

    def __call__(self, q, k, v, mask):
        p = attention_probabilities(q, k, mask).mean(1)  # (B, N, L)
        self.maps.setdefault(p.shape[1], []).append(p)
        return attention(q, k, v, mask)

    def finest(self) -> torch.Tensor:
        """(B, L, res, res): the mean over the layers at the largest resolution."""
        n = max(self.maps)
        res = math.isqrt(n)
        p = torch.stack(self.maps[n]).mean(0)
        return p.transpose(1, 2).reshape(p.shape[0], p.shape[2], res, res)


def _smooth(maps: torch.Tensor) -> torch.Tensor:
    """A 3x3 Gaussian (sigma 0.5) over each map (..., H, W), as Attend-and-Excite smooths before its max."""
    g = torch.exp(-torch.tensor([-1.0, 0.0, 1.0]) ** 2 / (2 * 0.5**2))
    kernel = (g[:, None] * g[None, :] / (g.sum() ** 2)).to(maps)
    flat = maps.reshape(-1, 1, *maps.shape[-2:])
    return F.conv2d(F.pad(flat, (1, 1, 1, 1), mode="reflect"), kernel[None, None]).reshape(maps.shape)


def attend_excite_loss(maps: torch.Tensor, roles: list[Roles]) -> torch.Tensor:
    """(B,) max over each prompt's nouns of 1 - max(smoothed map); the maps are renormalised over the prompt's
    tokens without the start token, as in the paper. maps (B, L, H, W)."""
    losses = []
    for b, r in enumerate(roles):
        if not r.nouns:
            losses.append(maps.new_zeros(()))
            continue
        words = maps[b, 1:]
        words = words / words.sum(0, keepdim=True).clamp_min(1e-12)
        nouns = _smooth(words[[i - 1 for i in r.nouns]])
        losses.append((1 - nouns.flatten(1).max(1).values).max())
    return torch.stack(losses)


def _distribution(maps: torch.Tensor, positions: list[int]) -> torch.Tensor:
    m = maps[positions].sum(0).flatten()
    return m / m.sum().clamp_min(1e-12)


def _sym_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    p, q = p.clamp_min(1e-8), q.clamp_min(1e-8)
    return 0.5 * ((p * (p / q).log()).sum() + (q * (q / p).log()).sum())


def syngen_loss(maps: torch.Tensor, roles: list[Roles]) -> torch.Tensor:
    """(B,) mean over (colour, noun) pairs of D(colour, own noun) - mean D(colour, other nouns)."""
    losses = []
    for b, r in enumerate(roles):
        pairs = [(c, n) for c, n in zip(r.colours, r.nouns) if c]
        terms = []
        for colour, noun in pairs:
            others = [n for n in r.nouns if n != noun]
            attract = _sym_kl(_distribution(maps[b], colour), _distribution(maps[b], [noun]))
            repel = torch.stack([_sym_kl(_distribution(maps[b], colour), _distribution(maps[b], [o])) for o in others]).mean() if others else 0
            terms.append(attract - repel)
        losses.append(torch.stack(terms).mean() if terms else maps.new_zeros(()))
    return torch.stack(losses)


LOSSES = {"attend_excite": attend_excite_loss, "syngen": syngen_loss}


class BindingGuide:
    """The step_hook (and the update of the starting noise) that moves x_t down a binding loss's gradient over the
    first `fraction` of the chain's steps: x <- x - step_size * sqrt(1 - alpha_bar_t) * g / rms(g), g the gradient
    less its per-channel spatial mean; the normalised step keeps the size of the update in units of the noise at
    that step."""

    def __init__(self, method: str, model, cond: dict, roles: list[Roles], schedule: Schedule, settings,
                 prediction_type: str):
        self.loss, self.model, self.cond, self.roles = LOSSES[method], model, cond, roles
        self.schedule, self.prediction_type = schedule, prediction_type
        self.timesteps = sampling_timesteps(schedule.num_timesteps, settings.num_steps or schedule.num_timesteps,
                                            settings.spacing).tolist()
        self.active = round(settings.binding_steps * len(self.timesteps))
        self.step_size = settings.binding_step_size
        self.losses: list[float] = []

    def update(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """x at the chain's step `step` (its timestep's noise level), moved once if the step is a guided one."""
        if step >= self.active or step >= len(self.timesteps):
            return x
        t = torch.full((len(x),), self.timesteps[step], device=x.device, dtype=torch.long)
        with torch.enable_grad():
            xg = x.detach().float().requires_grad_(True)
            recorder = GradientMaps()
            with processors(self.model, recorder):
                self.model(xg, t, **self.cond)
            loss = self.loss(recorder.finest(), self.roles)
            grad, = torch.autograd.grad(loss.sum(), xg)
        self.losses.append(loss.mean().item())
        # Each channel's spatial mean is taken out: at high noise a uniform shift of x_t becomes a tint over the
        # whole predicted image (x0 moves by the shift / sqrt(alpha_bar)), which no later step removes. Where the
        # attention goes is the gradient's spatial pattern, so that is what moves x_t.
        grad = grad - grad.mean(dim=(-2, -1), keepdim=True)
        rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
        s = (1 - self.schedule.alpha_bar[self.timesteps[step]]).sqrt().item()
        return (x - self.step_size * s * grad / rms).to(x.dtype)

    def step_hook(self, step: int, alpha_bar_next: float, x_next: torch.Tensor) -> torch.Tensor:
        """diffusion/samplers.py's step_hook: x_next is the chain's x at step + 1."""
        return self.update(x_next, step + 1)


def model_calls_per_step(settings, prompts: list[str]) -> float:
    """Network calls per image per step, as the settings run them (a gradient step counts forward and backward
    as two): for comparing methods' costs."""
    base = 1 if settings.guidance_scale == 1 else 2
    if settings.binding == "composable":
        base = 1 + max(len(phrases(p)) for p in prompts)
    if settings.binding in LOSSES:
        base += 2 * settings.binding_steps
    return base
