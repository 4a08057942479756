"""The schema of configs/schedule/: diffusion.schedules.get_schedule's arguments (one for every schedule)."""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from diffusion.schedules import SCHEDULES
from schemas.fields import at_least, choice


@dataclass
class ScheduleConfig:
    _target_: str = MISSING
    name: str = choice(*SCHEDULES)
    num_timesteps: int = at_least(2)
    zero_terminal_snr: bool = MISSING
