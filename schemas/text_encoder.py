"""The schema of configs/text_encoder/: the arguments of models.text_encoder's minilm, distilbert and clip."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from schemas.fields import positive, unbounded


@dataclass
class TextEncoderConfig:
    _target_: str = MISSING
    max_length: int = positive()
    pretrained: Optional[str] = MISSING      # a hub id or a local folder; null (minilm only): the bundled copy
    layer: int = unbounded()                 # the hidden state read: -1 the last, -2 the penultimate, 0 the token
                                             # embeddings; its range depends on the encoder, checked when it loads


@dataclass
class HubTextEncoderConfig(TextEncoderConfig):
    pretrained: str = MISSING                # distilbert and clip have no bundled copy
