"""Building a distillation run: its config from the teacher's, the teacher (only read), the student made from the
teacher's weights with a guidance embedding, and the stages of progressive distillation.

The student's run is an ordinary run: its checkpoints carry the teacher's network config plus
`guidance_embedding: true`, the teacher's schedule, text encoder, data and first stage, and the student's own
sampler, so sample.py, evaluate.py, edit.py and the studio load it as they load any run.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from safetensors.torch import save

from generation.loading import SAMPLER_CONFIGS, LoadedRun, load_run
from runfolder.atomic import write_atomic
from runfolder.checkpoint import load_weights
from schemas import load_group_file
from schemas.check import ConfigError
from training.build import Parts, build
from training.resume import COMPATIBLE_KEYS

TEACHER_KEYS = ("schedule", "text_encoder", "data", "first_stage", "prediction_type")
DISTILL_KEYS = (*COMPATIBLE_KEYS, "teacher.run", "teacher.checkpoint", "teacher.weights", "distill")  # must match on resume
STAGES = "stages"  # <run>/stages/stage_XX.safetensors: the teacher of each progressive halving stage


def student_config(cfg: DictConfig, teacher: DictConfig) -> DictConfig:
    """`cfg` with the teacher's network (and a guidance embedding), schedule, text encoder, data, first stage,
    prediction type and guidance scale; a progressive student samples with DDIM at its last stage's steps."""
    with open_dict(cfg):
        for key in TEACHER_KEYS:
            cfg[key] = teacher.get(key)
        cfg.model = OmegaConf.merge(teacher.model, {"guidance_embedding": True})
        cfg.sampler.guidance_scale = teacher.sampler.guidance_scale  # the student samples at its teacher's guidance
        if cfg.distill.method == "progressive":  # deterministic DDIM at the last stage's steps, at the same guidance
            ddim = load_group_file(SAMPLER_CONFIGS / "ddim.yaml")
            cfg.sampler = OmegaConf.merge(ddim, {"num_steps": cfg.distill.final_steps,
                                                 "guidance_scale": cfg.sampler.guidance_scale})
    return cfg


def check_distill_config(cfg: DictConfig) -> None:
    """The method's keys against each other (each key's own range: schemas/distill.py)."""
    d = cfg.distill
    if d.method == "progressive":
        ratio = d.start_steps // d.final_steps
        if d.start_steps % d.final_steps or ratio & (ratio - 1):
            raise ConfigError(f"distill.start_steps={d.start_steps} must be distill.final_steps={d.final_steps} times a "
                              f"power of two (each stage halves the steps)")
        if not 0 <= d.guided_fraction < 1:
            raise ConfigError(f"distill.guided_fraction={d.guided_fraction} must be in [0, 1)")


@dataclass
class Stage:
    """One stage of progressive distillation: steps [first, last) of the run; student_steps None is stage 0."""

    index: int
    first: int
    last: int
    student_steps: int | None


def progressive_stages(max_steps: int, start_steps: int, final_steps: int, guided_fraction: float) -> list[Stage]:
    """Stage 0 (guidance folded in) for guided_fraction of the run, then one stage per halving from start_steps to
    final_steps, sharing the rest of the steps evenly."""
    halvings = []
    n = start_steps
    while n >= final_steps:
        halvings.append(n)
        n //= 2
    guided = int(round(guided_fraction * max_steps))
    bounds = [guided + round(i * (max_steps - guided) / len(halvings)) for i in range(len(halvings) + 1)]
    stages = [Stage(0, 0, guided, None)] if guided else []
    return stages + [Stage(len(stages) + i, bounds[i], bounds[i + 1], steps) for i, steps in enumerate(halvings)]


def stage_at(stages: list[Stage], step: int) -> Stage:
    return next((s for s in stages if s.first <= step < s.last), stages[-1])


@dataclass
class Distillation:
    """What a distillation step needs besides the run's parts."""

    teacher: LoadedRun
    stages: list[Stage]
    run_dir: Path
    is_main: bool
    stage_teacher: torch.nn.Module | None = None  # progressive: the previous stage's student
    stage_index: int = -1


def build_distillation(cfg: DictConfig, device, dist, run_dir: Path) -> tuple[Parts, Distillation]:
    """The run's parts (training/build.py, on the student's config) with the student and its EMA starting from the
    teacher's weights (the guidance embedding from zero), and the teacher."""
    teacher = load_run(cfg.teacher.run, cfg.teacher.checkpoint, cfg.teacher.weights, device)
    teacher.model.requires_grad_(False)
    parts = build(cfg, device, dist)
    missing, unexpected = parts.model.load_state_dict(teacher.model.state_dict(), strict=False)
    if unexpected or any(not key.startswith("guidance_embed.") for key in missing):
        raise ConfigError(f"teacher.run={cfg.teacher.run}: its network does not fit the student "
                          f"(unexpected {unexpected[:3]}, missing {missing[:3]})")
    parts.ema.model.load_state_dict(parts.model.state_dict())
    d = cfg.distill
    stages = progressive_stages(cfg.max_steps, d.start_steps, d.final_steps, d.guided_fraction) if d.method == "progressive" else []
    return parts, Distillation(teacher, stages, Path(run_dir), dist.is_main)


def stage_file(run_dir: Path, index: int) -> Path:
    return Path(run_dir) / STAGES / f"stage_{index:02d}.safetensors"


def enter_stage(distillation: Distillation, parts: Parts, step: int) -> Stage:
    """The progressive stage of `step`. Entering a halving stage takes the previous stage's student (the EMA
    weights) as its teacher: at the stage's first step they are saved to <run>/stages/, and a resumed run reads
    them back from there, so it continues with the same teacher."""
    stage = stage_at(distillation.stages, step)
    if stage.index == distillation.stage_index:
        return stage
    distillation.stage_index = stage.index
    if stage.student_steps is None:
        distillation.stage_teacher = None
        return stage
    path = stage_file(distillation.run_dir, stage.index)
    teacher = copy.deepcopy(parts.ema.model).eval().requires_grad_(False)
    if step == stage.first and distillation.is_main:  # every rank holds the same EMA weights: only rank 0 writes them
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, save({k: v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}))
    if step > stage.first:  # resumed inside the stage: its teacher as it was saved when the stage began
        teacher.load_state_dict(load_weights(path))
    distillation.stage_teacher = teacher
    return stage
