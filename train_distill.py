"""Distil a trained run into a few-step student, classifier-free guidance folded into one network call.

    python train_distill.py +experiment=distill_xa_cos teacher.run=runs/xa_cos/<timestamp>   # runs/distill_xa_cos/<timestamp>/
    python train_distill.py +experiment=distill_xa_cos teacher.run=... distill.method=progressive
    python train_distill.py +experiment=distill_xa_cos teacher.run=... resume=auto

Reads like train.py (setup -> build -> maybe resume -> loop -> close) and shares its loop and machinery
(training/loop.py): checkpoints, bitwise resume, SIGTERM, DDP, EMA, previews and evaluations at the student's own
step count. The maths is diffusion/distillation.py; the student, its config and the stages are
training/distill_build.py. The teacher's run folder is only read. The student's run folder is an ordinary run:
sample.py, evaluate.py, edit.py and the studio use it with its own sampler (4 consistency steps by default).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from diffusion.distillation import (
    consistency_distillation_loss,
    guided_distillation_loss,
    progressive_distillation_loss,
)
from diffusion.guidance import guided_model_fn
from diffusion.timesteps import sampling_timesteps
from generation.sampling import SamplerSettings, autocast
from runfolder.checkpoint import find_checkpoint, load_config, remove_partial_checkpoints
from schemas.command_line import exit_if_invalid
from schemas.relations import validate_config
from training.batches import derived_seed
from training.distill_build import DISTILL_KEYS, build_distillation, check_distill_config, enter_stage, student_config
from training.logger import Logger, LossTracker
from training.loop import apply_gradients, train_loop
from training.outputs import Outputs
from training.precision import choose_precision
from training.resume import restore
from training.run_dir import register_resolvers
from training.setup import setup, train_or_exit
from training.validate import check_resume_argument

log = logging.getLogger("train")
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="train_distill")
def main(cfg: DictConfig) -> None:
    train_or_exit(train, cfg)


def validate(cfg: DictConfig, world_size: int) -> None:
    """The teacher's config in place of the groups, then the same checks as train.py's, and the method's."""
    student_config(cfg, load_config(find_checkpoint(cfg.teacher.run, cfg.teacher.checkpoint)))
    validate_config(cfg, world_size)
    check_distill_config(cfg)


def guidance_scales(cfg, step: int, rank: int, micro: int, size: int, device) -> torch.Tensor:
    """(size,) guidance scales drawn uniformly from distill.guidance_range, a function of (seed, step, rank, micro)."""
    low, high = cfg.distill.guidance_range
    g = torch.Generator().manual_seed(derived_seed(cfg.seed, step, rank, micro, 1))
    return (low + (high - low) * torch.rand(size, generator=g)).to(device)


def distill_losses(model, parts, distillation, cfg, batch, w, step: int):
    """(b,) per-sample losses of one micro-batch under the caller's autocast: the method's, at this step's stage."""
    cond = parts.cache.lookup(batch.rows).as_model_kwargs()
    uncond = parts.cache.lookup(torch.tensor([parts.cache.null_row], device=batch.rows.device)).as_model_kwargs()
    student = lambda x, t, w: model(x, t, **cond, guidance_scale=w)  # noqa: E731
    guided = lambda x, t, w: guided_model_fn(distillation.teacher.model, cond, uncond, w.view(-1, 1, 1, 1))(x, t)  # noqa: E731
    p = cfg.prediction_type
    if cfg.distill.method == "consistency":
        target = lambda x, t, w: parts.ema.model(x, t, **cond, guidance_scale=w)  # noqa: E731
        return consistency_distillation_loss(student, target, guided, parts.schedule, batch.x0, batch.t, batch.eps, w,
                                             cfg.distill.skip, p)
    stage = enter_stage(distillation, parts, step)
    if stage.student_steps is None:
        return guided_distillation_loss(student, guided, parts.schedule, batch.x0, batch.t, batch.eps, w, p)
    teacher = lambda x, t, w: distillation.stage_teacher(x, t, **cond, guidance_scale=w)  # noqa: E731
    grid = sampling_timesteps(parts.schedule.num_timesteps, 2 * stage.student_steps)
    index = (batch.t * stage.student_steps) // parts.schedule.num_timesteps  # the step's uniform t, on the N-step grid
    return progressive_distillation_loss(student, teacher, parts.schedule, batch.x0, grid, index, batch.eps, w, p)


def train_step(train_model, parts, distillation, cfg, step, position, dist, tracker):
    """One optimizer step over grad_accum micro-batches. Returns (grad_norm, finite)."""
    for micro in range(cfg.grad_accum):
        batch = parts.stream.micro_batch(position, step, dist.rank, dist.world_size, micro, cfg.grad_accum, cfg.batch_size)
        w = guidance_scales(cfg, step, dist.rank, micro, len(batch.t), batch.x0.device)
        accumulate_only = dist.enabled and micro < cfg.grad_accum - 1
        with train_model.no_sync() if accumulate_only else contextlib.nullcontext():
            with autocast(batch.x0.device, cfg.precision):
                losses = distill_losses(train_model, parts, distillation, cfg, batch, w, step)
            parts.scaler.scale(losses.mean() / cfg.grad_accum).backward()
        tracker.add(losses, batch.t)
    return apply_gradients(parts.model, parts.optimizer, parts.scaler, cfg.grad_clip, cfg.precision)


def training_step_timer(parts, distillation, cfg, dist, step: int, position: int):
    """measure(precision): forward and backward of one micro-batch's loss, gradients then dropped."""
    def measure(precision: str) -> None:
        batch = parts.stream.micro_batch(position, step, dist.rank, dist.world_size, 0, cfg.grad_accum, cfg.batch_size)
        w = guidance_scales(cfg, step, dist.rank, 0, len(batch.t), batch.x0.device)
        with autocast(batch.x0.device, precision):
            distill_losses(parts.model, parts, distillation, cfg, batch, w, step).mean().backward()
        parts.model.zero_grad(set_to_none=True)

    return measure


def train(cfg: DictConfig) -> None:
    # --- setup: the teacher's network, data and schedule become the student's config ---
    device, dist, run_dir, resume_from = setup(cfg, validate, DISTILL_KEYS)
    torch.manual_seed(cfg.seed)

    # --- build: the teacher, and the student from its weights ---
    parts, distillation = build_distillation(cfg, device, dist, run_dir)
    model = parts.model

    # --- maybe resume ---
    step, position, skipped = restore(resume_from, **parts.state()) if resume_from else (0, 0, 0)
    cfg.precision = choose_precision(cfg.precision, device, dist, training_step_timer(parts, distillation, cfg, dist, step, position),
                                     cfg.cache_dir, f"distill {cfg.distill.method}|{model!r}|{parts.shape}|{cfg.batch_size}")
    if dist.is_main:
        remove_partial_checkpoints(run_dir)
        log.info(f"run {run_dir}  student of {distillation.teacher.checkpoint} by {cfg.distill.method} distillation  "
                 f"{model.num_parameters():,} parameters  device {device}  precision {cfg.precision}  world "
                 f"{dist.world_size}" + (f"  resumed at step {step}" if resume_from else ""))
    train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else model
    logger = Logger.for_run(run_dir, dist, cfg, step, resumed=resume_from is not None)
    outputs = Outputs(run_dir, cfg, parts, logger, SamplerSettings(**OmegaConf.to_container(cfg.sampler)), device, dist)

    # --- loop, then close ---
    model.train()
    tracker = LossTracker(parts.schedule.num_timesteps, device)
    train_loop(cfg, run_dir, parts, lambda step, position: train_step(train_model, parts, distillation, cfg, step, position,
                                                                      dist, tracker),
               tracker, outputs, logger, dist, device, step, position, skipped)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parent / "configs", "train_distill", also=check_resume_argument)
    main()
