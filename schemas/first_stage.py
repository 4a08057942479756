"""The schemas of configs/first_stage/: diffuse pixels, or the latents of a trained autoencoder
(generation/first_stage.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from schemas.fields import choice
from schemas.train import WEIGHTS


@dataclass
class PixelStage:
    _target_: str = MISSING


@dataclass
class AutoencoderStage:
    _target_: str = MISSING
    run: str = MISSING                       # the train_autoencoder.py run folder
    checkpoint: Optional[str] = MISSING      # null: its newest checkpoint; or a step number
    weights: str = choice(*WEIGHTS)
