"""Train the first stage of latent diffusion: a KL autoencoder (models/autoencoder.py), from scratch.

    python train_autoencoder.py +experiment=ae_shapes64           # runs/ae_shapes64/<timestamp>/
    python train_autoencoder.py +experiment=ae_shapes64 resume=auto
    torchrun --nproc_per_node=2 train_autoencoder.py +experiment=ae_shapes64

Reads like train.py (setup -> build -> maybe resume -> loop -> close) and shares its machinery: run
folders, safetensors checkpoints, bitwise resume, SIGTERM, DDP, EMA, LR schedule, TensorBoard (per-term
losses, input/reconstruction grids, PSNR). Each checkpoint stores the latents' scaling factor; a diffusion
run then trains on this run's latents with `python train.py +experiment=ldm_shapes64 first_stage.run=<this run>`.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from generation.sampling import autocast
from models.autoencoder_loss import autoencoder_losses
from train import USER_ERRORS, TrainingStopped, apply_gradients, remove_if_unused, setup  # also registers the run-folder resolvers
from training import distributed as ddp
from training.autoencoder_build import AUTOENCODER_KEYS, LOSS_TERMS, build_autoencoder, validate_autoencoder_config
from training.autoencoder_outputs import AutoencoderOutputs
from training.checkpoint import remove_partial_checkpoints
from training.precision import choose_precision
from training.logger import Logger, TermTracker
from training.resume import restore
from training.signals import StopRequest
from schemas.command_line import exit_if_invalid
from training.validate import check_resume_argument

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="configs", config_name="train_autoencoder")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        log.debug(f"error: {error}")
        remove_if_unused(Path(HydraConfig.get().runtime.output_dir))
        sys.exit(2)


def train_step(train_model, parts, cfg, step, position, dist, tracker):
    """One optimizer step over grad_accum micro-batches. Returns (grad_norm, finite)."""
    optimizer, scaler = parts.optimizer, parts.scaler
    for micro in range(cfg.grad_accum):
        x = parts.micro_batch(cfg, position, step, dist.rank, dist.world_size, micro)
        accumulate_only = dist.enabled and micro < cfg.grad_accum - 1
        with train_model.no_sync() if accumulate_only else contextlib.nullcontext():
            with autocast(x.device, cfg.precision):
                terms = autoencoder_losses(train_model, x, **cfg.loss)
            scaler.scale(terms["loss"].mean() / cfg.grad_accum).backward()
        tracker.add(terms)
    return apply_gradients(parts.model, optimizer, scaler, cfg.grad_clip, cfg.precision)


def training_step_timer(parts, cfg, dist, step: int, position: int):
    """measure(precision): forward and backward of the loss on this process's next micro-batch, gradients then
    dropped; the weights, the optimizer and the data stream are left as they were."""
    def measure(precision: str) -> None:
        x = parts.micro_batch(cfg, position, step, dist.rank, dist.world_size, 0)
        with autocast(x.device, precision):
            autoencoder_losses(parts.model, x, **cfg.loss)["loss"].mean().backward()
        parts.model.zero_grad(set_to_none=True)

    return measure


def train(cfg: DictConfig) -> None:
    # --- setup ---
    device, dist, run_dir, resume_from = setup(cfg, validate_autoencoder_config, AUTOENCODER_KEYS)
    torch.manual_seed(cfg.seed)

    # --- build ---
    parts = build_autoencoder(cfg, device)
    model, ema = parts.model, parts.ema

    # --- maybe resume ---
    step, position, skipped = restore(resume_from, **parts.state()) if resume_from else (0, 0, 0)
    cfg.precision = choose_precision(cfg.precision, device, dist, training_step_timer(parts, cfg, dist, step, position),
                                     cfg.cache_dir, f"{model!r}|{cfg.batch_size // (dist.world_size * cfg.grad_accum)}")
    if dist.is_main:
        remove_partial_checkpoints(run_dir)
        log.info(f"run {run_dir}  autoencoder {model.num_parameters():,} parameters (f={model.downsample_factor}, "
                 f"{model.latent_channels} latent channels)  data {len(parts.data)} images  device {device}  "
                 f"world {dist.world_size}" + (f"  resumed at step {step}" if resume_from else ""))
    train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else model
    logger = Logger(str(run_dir), dist, purge_step=step if resume_from else None)
    if step == 0:
        logger.text("config", f"```\n{OmegaConf.to_yaml(cfg, resolve=True)}\n```", 0)
    outputs = AutoencoderOutputs(run_dir, cfg, parts, logger, dist)

    # --- loop ---
    model.train()
    stop, tracker, bad_steps, first_step = StopRequest(), TermTracker(list(LOSS_TERMS), device), 0, step
    launched = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, disable=not dist.is_main)
    try:
        while step < cfg.max_steps:
            grad_norm, finite = train_step(train_model, parts, cfg, step, position, dist, tracker)
            if finite:
                ema.update(model, step)
            bad_steps = 0 if finite or (cfg.precision == "fp16" and parts.scaler.get_scale() >= 1.0) else bad_steps + 1
            skipped += not finite
            parts.lr_scheduler.step()
            step, position = step + 1, position + cfg.batch_size
            if bad_steps >= cfg.max_bad_steps:
                raise TrainingStopped(f"training stopped at step {step}: {bad_steps} consecutive non-finite steps; the last "
                                      f"good checkpoint in {run_dir / 'checkpoints'} is untouched -- lower lr or use precision=fp32")
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                values = tracker.read_and_reset(dist)
                values.update({"train/lr": parts.optimizer.param_groups[0]["lr"], "train/grad_norm": grad_norm.item()})
                logger.scalars(values, step)
                bar.set_postfix(loss=f"{values['train/loss']:.4f}")
                if dist.is_main:
                    log.debug("step {}  ".format(step) + "  ".join(f"{k[6:]} {v:.4g}" for k, v in values.items()))
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
            log.info(f"finished at step {step} in {(time.perf_counter() - launched) / 60:.1f} min -> {run_dir}")
        logger.close()
    finally:
        stop.restore()
        ddp.cleanup(dist)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parent / "configs", "train_autoencoder", also=check_resume_argument)
    main()
