"""Train a text-conditioned DDPM.

    python train.py +experiment=xa_cos                   # runs/xa_cos/<timestamp>/
    python train.py +experiment=xa_cos resume=auto       # continue the newest xa_cos run
    python train.py -m +experiment=xa_cos,sa_lin         # several runs, one after another
    torchrun --nproc_per_node=2 train.py +experiment=xa_cos

Reads top to bottom like DiT's train.py: setup -> build -> maybe resume -> loop -> close. The maths is in
diffusion/, the networks in models/, the datasets in data/, the machinery (building, batches,
checkpoints, EMA, logging, previews) in training/. Each run folder holds Hydra's .hydra/, the
TensorBoard events, checkpoints/, samples/, eval/ and train.log.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
from pathlib import Path

import datasets
import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from data.hub import HubDatasetUnavailable
from diffusion.losses import training_losses
from training import distributed as ddp
from training.batches import derived_seed
from training.build import build
from training.checkpoint import CheckpointError, remove_partial_checkpoints
from training.compile import compile_network, enable_compile_cache
from training.logger import Logger, LossTracker, hparams_of
from training.outputs import Outputs
from training.resume import COMPATIBLE_KEYS, find_resume_checkpoint, restore
from training.run_dir import on_rank_zero, resolve_run_dir
from generation.sampling import SamplerSettings, autocast
from training.signals import StopRequest
from schemas.command_line import exit_if_invalid
from training.precision import choose_precision, native_bf16
from training.validate import ConfigError, check_precision, check_resume_argument, select_device, validate_config

log = logging.getLogger("train")  # console and <run>/train.log (configs/hydra/job_logging/train.yaml)
OmegaConf.register_new_resolver("run_dir", resolve_run_dir, use_cache=True)
OmegaConf.register_new_resolver("on_rank_zero", on_rank_zero)


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. non-finite steps); the last good checkpoint is kept."""


USER_ERRORS = (ConfigError, CheckpointError, HubDatasetUnavailable, FileNotFoundError, TrainingStopped)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        log.debug(f"error: {error}")  # into train.log only
        remove_if_unused(Path(HydraConfig.get().runtime.output_dir))
        sys.exit(2)


def remove_if_unused(run_dir: Path) -> None:
    """A run that failed its checks leaves no folder behind (Hydra makes it before the checks run)."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}:
        shutil.rmtree(run_dir)
        for parent in (run_dir.parent, run_dir.parent.parent):  # runs/<name>/ and runs/, when left empty
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()


def train_step(train_model, parts, cfg, step, position, dist, tracker):
    """One optimizer step over grad_accum micro-batches. Returns (grad_norm, finite)."""
    stream, optimizer, scaler = parts.stream, parts.optimizer, parts.scaler
    for micro in range(cfg.grad_accum):
        batch = stream.micro_batch(position, step, dist.rank, dist.world_size, micro, cfg.grad_accum, cfg.batch_size)
        torch.manual_seed(derived_seed(cfg.seed, step, dist.rank, micro))  # dropout inside the network
        # DDP averages gradients over ranks on the last micro-batch only.
        accumulate_only = dist.enabled and micro < cfg.grad_accum - 1
        with train_model.no_sync() if accumulate_only else contextlib.nullcontext():
            with autocast(batch.x0.device, cfg.precision):
                losses = batch_losses(train_model, parts, cfg, batch)
            scaler.scale(losses.mean() / cfg.grad_accum).backward()
        tracker.add(losses, batch.t)
    return apply_gradients(parts.model, optimizer, scaler, cfg.grad_clip, cfg.precision)


def batch_losses(model, parts, cfg, batch):
    """(b,) per-sample losses of one micro-batch, under the caller's autocast."""
    cond = parts.cache.lookup(batch.rows).as_model_kwargs()
    return training_losses(model, parts.schedule, batch.x0, batch.t, batch.eps, cfg.prediction_type, cfg.min_snr_gamma,
                           batch.self_cond if parts.model.self_condition else None, parts.first_stage.bounded, **cond)


def apply_gradients(model, optimizer, scaler, grad_clip: float, precision: str):
    """Unscale, clip and step, unless the gradient is not finite. Returns (grad_norm, finite). Shared by
    train.py and train_autoencoder.py."""
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    # One host sync per step: a non-finite loss or gradient must never reach the weights.
    finite = bool(torch.isfinite(grad_norm).item())
    if finite or precision == "fp16":  # fp16: GradScaler skips overflowing steps itself
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, finite


def setup(cfg: DictConfig, validate=validate_config, resume_keys=COMPATIBLE_KEYS):
    """Device, process group and checks (`validate(cfg, world_size)`), before any work. Returns (device, dist,
    run_dir, checkpoint to resume, whose config must match in `resume_keys`). Shared with train_autoencoder.py."""
    datasets.disable_progress_bars()
    device = select_device(cfg.device)
    dist = ddp.setup_distributed(device)
    device = ddp.local_device(device, dist.local_rank)
    validate(cfg, dist.world_size)
    check_precision(cfg.precision, device)  # auto is resolved once the network is built: `choose_precision`
    if cfg.precision == "bf16" and not native_bf16(device) and dist.is_main:
        log.warning(f"precision=bf16 on a {device.type} without native bf16: it is emulated, and a step can be ~10x "
                    f"slower than fp32; precision=auto picks fp32 here")
    own_dir = Path(HydraConfig.get().runtime.output_dir)
    run_dir = ddp.broadcast_from_main(own_dir, dist)  # every rank uses rank 0's folder
    if run_dir != own_dir:
        remove_if_unused(own_dir)
    return device, dist, run_dir, find_resume_checkpoint(cfg, run_dir, resume_keys)


def training_step_timer(parts, cfg, dist, step: int, position: int):
    """measure(precision): forward and backward of the loss on this process's next micro-batch, gradients then
    dropped; the weights, the optimizer and the data stream are left as they were."""
    def measure(precision: str) -> None:
        batch = parts.stream.micro_batch(position, step, dist.rank, dist.world_size, 0, cfg.grad_accum, cfg.batch_size)
        with autocast(batch.x0.device, precision):
            losses = batch_losses(parts.model, parts, cfg, batch)
        losses.mean().backward()
        parts.model.zero_grad(set_to_none=True)

    return measure


def train(cfg: DictConfig) -> None:
    # --- setup ---
    device, dist, run_dir, resume_from = setup(cfg)
    torch.manual_seed(cfg.seed)

    # --- build ---
    parts = build(cfg, device, dist)
    model, ema = parts.model, parts.ema

    # --- maybe resume ---
    step, position, skipped = restore(resume_from, **parts.state()) if resume_from else (0, 0, 0)
    cfg.precision = choose_precision(cfg.precision, device, dist, training_step_timer(parts, cfg, dist, step, position),
                                     cfg.cache_dir, f"{model!r}|{parts.shape}|{cfg.batch_size // (dist.world_size * cfg.grad_accum)}")
    if dist.is_main:
        remove_partial_checkpoints(run_dir)
        log.info(f"run {run_dir}  model {model.num_parameters():,} parameters  data {len(parts.data)} images  "
                 f"{len(parts.cache)} captions cached  device {device}  precision {cfg.precision}  world {dist.world_size}" +
                 (f"  resumed at step {step}" if resume_from else ""))
    if cfg.compile != "none":
        enable_compile_cache(cfg.cache_dir)
    train_model = compile_network(model, "blocks") if cfg.compile == "blocks" else model
    if dist.enabled:
        train_model = DistributedDataParallel(train_model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile == "model":
        train_model = compile_network(train_model, "model")
    logger = Logger(str(run_dir), dist, purge_step=step if resume_from else None)
    if step == 0:
        logger.text("config", f"```\n{OmegaConf.to_yaml(cfg, resolve=True)}\n```", 0)
        logger.hparams(hparams_of(cfg), trial=f"{run_dir.parent.name}/{run_dir.name}")
    outputs = Outputs(run_dir, cfg, parts, logger, SamplerSettings(**OmegaConf.to_container(cfg.sampler)), device, dist)

    # --- loop ---
    model.train()
    stop, tracker, bad_steps, first_step = StopRequest(), LossTracker(parts.schedule.num_timesteps, device), 0, step
    launched = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, disable=not dist.is_main)
    train_seconds, window_steps = 0.0, 0
    try:
        while step < cfg.max_steps:
            started = time.perf_counter()
            grad_norm, finite = train_step(train_model, parts, cfg, step, position, dist, tracker)
            if finite:
                ema.update(model, step)
            # fp16: GradScaler starts high and halves its scale on each overflow; only overflows it cannot
            # explain (scale already below 1) count towards stopping.
            scaled_overflow = cfg.precision == "fp16" and parts.scaler.get_scale() >= 1.0
            bad_steps = 0 if finite or scaled_overflow else bad_steps + 1
            skipped += not finite
            parts.lr_scheduler.step()
            step, position, window_steps = step + 1, position + cfg.batch_size, window_steps + 1
            train_seconds += time.perf_counter() - started
            if bad_steps >= cfg.max_bad_steps:
                raise TrainingStopped(
                    f"training stopped at step {step}: {bad_steps} consecutive steps had a non-finite loss or gradient "
                    f"(none reached the weights); the last good checkpoint in {run_dir / 'checkpoints'} is untouched -- "
                    f"lower lr, use precision=fp32, or check the data")
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                values = tracker.read_and_reset(dist)
                values.update({"train/lr": parts.optimizer.param_groups[0]["lr"], "train/grad_norm": grad_norm.item(),
                               "train/img_per_s": window_steps * cfg.batch_size / train_seconds,
                               "train/skipped_steps": skipped})
                logger.scalars(values, step)
                bar.set_postfix(loss=f"{values['train/loss']:.4f}", img_s=f"{values['train/img_per_s']:.0f}")
                if dist.is_main:
                    log.debug(f"step {step}  loss {values['train/loss']:.4f}  lr {values['train/lr']:.3g}  "
                              f"grad_norm {values['train/grad_norm']:.3g}  img/s {values['train/img_per_s']:.0f}  "
                              f"skipped {skipped}")
                train_seconds, window_steps = 0.0, 0
            bar.update(1)
            outputs.periodic(step, position, skipped)
            if ddp.any_rank(stop.requested, device, dist):
                if dist.is_main:
                    log.info(f"{stop.signal_name or 'stop'} received: saving a checkpoint at step {step} and exiting")
                break

        # --- close ---
        bar.close()
        outputs.final(step, position, skipped, trained=step > first_step)
        if dist.is_main:
            log.info(f"finished at step {step} in {(time.perf_counter() - launched) / 60:.1f} min "
                     f"({skipped} skipped steps) -> {run_dir}")
        logger.close()
    finally:
        stop.restore()
        ddp.cleanup(dist)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parent / "configs", "train", also=check_resume_argument)
    main()
