"""The schemas of configs/scripts/: the command lines of scripts/sample.py and scripts/evaluate.py.

Sampler keys left null follow the trained run's own sampler config (generation/loading.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from diffusion.samplers import SAMPLERS
from schemas.fields import at_least, choice, in_range, positive, satisfies
from schemas.train import PRECISIONS
from training.checkpoint import WEIGHTS


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


@dataclass
class SampleConfig(ScriptConfig):
    prompts: List[str] = satisfies(lambda v: len(v) > 0, "a non-empty list of prompts, e.g. prompts='[\"a small red circle in the top left\"]'")
    out: Optional[str] = MISSING              # null: <run>/samples/sample_<timestamp>/


@dataclass
class EvaluateConfig(ScriptConfig):
    num_samples: Optional[int] = positive()   # null: the full evaluation
