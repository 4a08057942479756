"""The schema of configs/model/: models.unet.UNet's constructor arguments that the config sets.

in_channels, image_size and context_dim are not here: they come from the data and the text encoder
at the call site. Relations between keys (widths vs norm_groups, attention sizes vs image size) are
checked by building the network on the meta device (schemas/relations.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from models.unet import CONTEXT_INJECTIONS
from schemas.fields import at_least, choice, each, in_range, positive


@dataclass
class UNetConfig:
    _target_: str = MISSING
    base_channels: int = positive()
    channel_mults: List[int] = each(positive())
    num_res_blocks: int = positive()
    attention_resolutions: List[int] = each(positive())
    self_attention: bool = MISSING
    cross_attention: Optional[bool] = MISSING       # null: as context_injection implies
    context_injection: str = choice(*CONTEXT_INJECTIONS)
    attention_head_dim: int = positive()
    dropout: float = in_range(0, 1, high_open=True)
    norm_groups: int = positive()
    positional_embedding: bool = MISSING
    context_refiner_layers: int = at_least(0)      # 0: the encoder's tokens go to cross-attention as they are
    context_refiner_dim: int = positive()
    self_condition: bool = MISSING                 # the network also reads its previous x0 estimate
    guidance_embedding: bool = MISSING             # the guidance scale is an input (a distilled student)
    self_attention_resolutions: Optional[List[int]] = each(positive())  # null: every attended size
