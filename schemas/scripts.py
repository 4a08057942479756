"""The schemas of configs/scripts/: the command lines of scripts/sample.py and scripts/evaluate.py.

Sampler keys left null follow the trained run's own sampler config (generation/loading.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from diffusion.samplers import SAMPLERS
from schemas.fields import at_least, choice, each, in_range, positive, satisfies
from schemas.sampler import BINDINGS, INTERVAL, is_interval
from schemas.train import PRECISIONS, WEIGHTS


@dataclass
class ScriptConfig:
    """What every script that loads a trained run shares."""

    run: str = MISSING                        # a run folder, e.g. runs/xa_cos/2026-11-22_10-00-00
    checkpoint: Optional[str] = MISSING       # null: the newest; or a step number / folder name
    weights: str = choice(*WEIGHTS)
    seed: int = at_least(0)
    batch_size: int = positive()
    device: str = MISSING
    precision: str = choice(*PRECISIONS)
    sampler: Optional[str] = choice(*SAMPLERS)
    num_steps: Optional[int] = positive()
    guidance_scale: Optional[float] = at_least(0)
    guidance_rescale: Optional[float] = in_range(0, 1)
    guidance_interval: Optional[List[float]] = satisfies(is_interval, INTERVAL + ", or null")
    binding: Optional[str] = choice(*BINDINGS)              # null = as the run's sampler config
    binding_steps: Optional[float] = in_range(0, 1)
    binding_step_size: Optional[float] = at_least(0)


@dataclass
class SampleConfig(ScriptConfig):
    prompts: List[str] = satisfies(lambda v: len(v) > 0, "a non-empty list of prompts, e.g. prompts='[\"a small red circle in the top left\"]'")
    out: Optional[str] = MISSING              # null: <run>/samples/sample_<timestamp>/
    save_trajectory: bool = MISSING           # also write trajectory.safetensors + .json (for edit.py mode=rewind)


@dataclass
class EvaluateConfig(ScriptConfig):
    num_samples: Optional[int] = positive()   # null: the full evaluation


@dataclass
class EditConfig(ScriptConfig):
    """scripts/edit.py: the modes of generation/ (img2img, inpaint, invert, rewind, attention)."""

    mode: str = choice("img2img", "inpaint", "invert", "rewind", "attention")
    run: Optional[str] = MISSING              # mode=rewind: null = the trajectory's run
    out: Optional[str] = MISSING
    seed: Optional[int] = at_least(0)         # null: 0; rewind: the trajectory's saved random state
    batch_size: int = positive()
    image: Optional[str] = MISSING
    prompt: Optional[str] = MISSING
    source_prompt: Optional[str] = MISSING
    strength: float = in_range(0, 1)
    mask: Optional[str] = MISSING
    mask_invert: bool = MISSING
    method: Optional[str] = choice(None, "blend", "repaint", "plain", "negative_prompt")
    jump_length: int = positive()
    jump_n_sample: int = positive()
    paste_back: bool = MISSING
    trajectory: Optional[str] = MISSING
    step: Optional[int] = at_least(0)
    index: int = at_least(0)
    renoise_step: Optional[int] = at_least(0)
    cross_replace: Optional[float] = in_range(0, 1)
    attention_steps: Optional[List[int]] = each(at_least(0))
    include_special_tokens: bool = MISSING


@dataclass
class EvaluateEditsConfig(ScriptConfig):
    """scripts/evaluate_edits.py: the editing measurements on a shapes run."""

    out: Optional[str] = MISSING
    batch_size: int = positive()
    images: int = positive()
    inversion_steps: List[int] = each(positive())
    repaint_steps: int = positive()
    jump_length: int = positive()
    jump_n_sample: int = positive()
    strengths: List[float] = each(in_range(0, 1))
    parts: List[str] = each(choice("inversion", "edits", "inpainting", "attention"))


@dataclass
class EvaluateAutoencoderConfig:
    """scripts/evaluate_autoencoder.py: PSNR and the shapes reader on a train_autoencoder.py run's reconstructions."""

    run: str = MISSING
    checkpoint: Optional[str] = MISSING       # null: the newest; or a step number / folder name
    weights: str = choice(*WEIGHTS)
    seed: int = at_least(0)                   # the jitter of the rendered images
    device: str = MISSING
