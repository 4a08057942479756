"""The schema of configs/train.yaml: every top-level key of a training run, typed and ranged.

The config groups (model, schedule, ...) are `Any` here: each group file brings its own schema
(schemas/model.py, ...), so that a choice with other keys (data=hub vs data=shapes) is checked by
its own. Defaults live in the YAML, not here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from diffusion.forward import PREDICTION_TYPES
from diffusion.timestep_sampling import TIMESTEP_SAMPLINGS
from schemas.fields import at_least, choice, in_range, positive, unbounded

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: runfolder/precision.py
COMPILE_MODES = ("none", "blocks", "model")  # training/compile.py
WEIGHTS = ("ema", "model")  # the two weight files of a checkpoint, <name>.safetensors (runfolder/checkpoint.py)


@dataclass
class TimestepSampling:
    """diffusion/timestep_sampling.py: how training draws t."""

    method: str = choice(*TIMESTEP_SAMPLINGS)
    mean: float = unbounded()
    std: float = positive()


@dataclass
class TrainConfig:
    model: Any = MISSING
    schedule: Any = MISSING
    text_encoder: Any = MISSING
    data: Any = MISSING
    sampler: Any = MISSING
    first_stage: Any = MISSING

    name: str = MISSING
    seed: int = at_least(0)
    device: str = MISSING              # auto | cpu | cuda | cuda:N | mps: checked against the machine (runfolder/device.py)
    precision: str = choice(*PRECISIONS)
    compile: str = choice(*COMPILE_MODES)

    batch_size: int = positive()
    grad_accum: int = positive()
    lr: float = positive()
    weight_decay: float = at_least(0)
    adam_beta2: float = in_range(0, 1, high_open=True)
    warmup_steps: int = at_least(0)
    min_lr_ratio: float = in_range(0, 1)
    max_steps: int = positive()
    grad_clip: float = at_least(0)     # 0 = off
    ema_decay: float = in_range(0, 1, high_open=True)
    ema_warmup: bool = MISSING

    prediction_type: str = choice(*PREDICTION_TYPES)
    min_snr_gamma: Optional[float] = positive()
    timestep_sampling: TimestepSampling = MISSING
    p_uncond: float = in_range(0, 1)

    log_every: int = positive()
    sample_every: int = at_least(0)    # 0 = never
    ckpt_every: int = at_least(0)
    keep_checkpoints: int = positive()
    eval_every: int = at_least(0)
    eval_samples: int = positive()
    resume: Optional[str] = MISSING    # null | auto | a run folder (checked on the command line, training/validate.py)
    max_bad_steps: int = positive()
    cache_dir: str = MISSING
