"""The schemas of configs/sampler/: the settings every sampler shares, and each sampler's own `options`
(the keyword arguments of its function in diffusion/samplers.py).

Whether num_steps fits the schedule's T is a relation between groups: schemas/relations.py checks it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING

from diffusion.samplers import SAMPLERS
from diffusion.timesteps import SPACINGS
from schemas.fields import at_least, choice, in_range, positive, satisfies

BINDINGS = ("none", "composable", "attend_excite", "syngen")  # generation/binding.py
INTERVAL = "[low, high] with 0 <= low < high <= 1 (fractions of the schedule's T), e.g. [0.2, 0.9]; [0, 1]: every step"


def is_interval(v) -> bool:
    return len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and 0 <= v[0] < v[1] <= 1


@dataclass
class SamplerConfig:
    num_steps: Optional[int] = positive()   # null: every timestep of the schedule
    spacing: str = choice(*SPACINGS)
    clip_x0: bool = MISSING
    guidance_scale: float = at_least(0)
    guidance_rescale: float = in_range(0, 1)
    guidance_interval: List[float] = satisfies(is_interval, INTERVAL)
    binding: str = choice(*BINDINGS)             # training-free binding at sampling time (generation/binding.py)
    binding_steps: float = in_range(0, 1)        # attend_excite, syngen: the guided fraction of the chain's first steps
    binding_step_size: float = at_least(0)       # ... and each move of x_t, in noise units


@dataclass
class DDIMOptions:
    eta: float = at_least(0)                # 0: deterministic; 1: DDPM's variance on the same timesteps


@dataclass
class DDPMOptions:
    variance: str = choice("fixed_small", "fixed_large")


@dataclass
class NoOptions:
    pass


def _named(name: str):
    """A sampler file's own name: another sampler is another file, whose options differ."""
    return satisfies(lambda v: v == name, f"{name} (to change sampler: sampler={'|'.join(SAMPLERS)})")


@dataclass
class DDIMConfig(SamplerConfig):
    name: str = _named("ddim")
    options: DDIMOptions = MISSING


@dataclass
class DDPMConfig(SamplerConfig):
    name: str = _named("ddpm")
    options: DDPMOptions = MISSING


@dataclass
class DPMSolverConfig(SamplerConfig):
    name: str = _named("dpm_solver_pp_2m")
    options: NoOptions = field(default_factory=NoOptions)


@dataclass
class ConsistencyConfig(SamplerConfig):
    name: str = _named("consistency")
    options: NoOptions = field(default_factory=NoOptions)
