"""The schema of configs/train_distill.yaml (train_distill.py): train.yaml's keys, the teacher run, and the method.

model, schedule, text_encoder, data, first_stage and prediction_type are replaced by the teacher's own when the
run starts (train_distill.py `student_config`), so the groups a command line names there do not matter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from schemas.fields import at_least, choice, each, positive, satisfies
from schemas.train import WEIGHTS, TrainConfig

METHODS = ("consistency", "progressive")


@dataclass
class TeacherConfig:
    run: str = MISSING                     # the teacher's run folder (never written to)
    checkpoint: Optional[str] = MISSING    # null: its newest; a step number or a folder name
    weights: str = choice(*WEIGHTS)


@dataclass
class DistillSettings:
    method: str = choice(*METHODS)
    guidance_range: List[float] = satisfies(lambda v: len(v) == 2 and 1 <= v[0] <= v[1],
                                            "[low, high] with 1 <= low <= high")   # w drawn uniformly per sample
    skip: int = positive()                 # consistency: the teacher's DDIM step, in timesteps
    start_steps: int = positive()          # progressive: the student's steps in the first halving stage
    final_steps: int = positive()          # progressive: ... and in the last (a power of two below start_steps)
    guided_fraction: float = at_least(0)   # progressive: the share of max_steps spent on stage 0 (guidance folded in)


@dataclass
class DistillTrainConfig(TrainConfig):
    teacher: TeacherConfig = MISSING
    distill: DistillSettings = MISSING
