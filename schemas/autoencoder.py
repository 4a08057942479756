"""The schemas of train_autoencoder.py: configs/autoencoder/ (models.autoencoder.AutoencoderKL's
arguments) and configs/train_autoencoder.yaml."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from omegaconf import MISSING

from schemas.fields import at_least, choice, each, in_range, positive
from schemas.train import PRECISIONS


@dataclass
class AutoencoderConfig:
    _target_: str = MISSING
    base_channels: int = positive()
    channel_mults: List[int] = each(positive())
    num_res_blocks: int = positive()
    latent_channels: int = positive()
    mid_attention: bool = MISSING
    norm_groups: int = positive()


@dataclass
class AutoencoderLoss:
    l1_weight: float = at_least(0)
    l2_weight: float = at_least(0)
    kl_weight: float = at_least(0)


@dataclass
class AutoencoderTrainConfig:
    autoencoder: Any = MISSING
    data: Any = MISSING
    name: str = MISSING
    seed: int = at_least(0)
    device: str = MISSING
    precision: str = choice(*PRECISIONS)
    batch_size: int = positive()
    grad_accum: int = positive()
    lr: float = positive()
    weight_decay: float = at_least(0)
    warmup_steps: int = at_least(0)
    min_lr_ratio: float = in_range(0, 1)
    max_steps: int = positive()
    grad_clip: float = at_least(0)
    ema_decay: float = in_range(0, 1, high_open=True)
    ema_warmup: bool = MISSING
    loss: AutoencoderLoss = MISSING
    log_every: int = positive()
    sample_every: int = at_least(0)
    ckpt_every: int = at_least(0)
    keep_checkpoints: int = positive()
    scale_images: int = positive()
    resume: Optional[str] = MISSING
    max_bad_steps: int = positive()
    cache_dir: str = MISSING
