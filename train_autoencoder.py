"""Train the first stage of latent diffusion: a KL autoencoder (models/autoencoder.py), from scratch.

    python train_autoencoder.py +experiment=ae_shapes64           # runs/ae_shapes64/<timestamp>/
    python train_autoencoder.py +experiment=ae_shapes64 resume=auto
    torchrun --nproc_per_node=2 train_autoencoder.py +experiment=ae_shapes64

Reads like train.py (setup -> build -> maybe resume -> loop -> close) and shares its machinery and its loop
(training/loop.py): run folders, safetensors checkpoints, bitwise resume, SIGTERM, DDP, EMA, LR schedule,
TensorBoard (per-term losses, input/reconstruction grids, PSNR). Each checkpoint stores the latents' scaling factor; a diffusion
run then trains on this run's latents with `python train.py +experiment=ldm_shapes64 first_stage.run=<this run>`.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel

from generation.sampling import autocast
from models.autoencoder_loss import autoencoder_losses
from runfolder.checkpoint import remove_partial_checkpoints
from schemas.command_line import exit_if_invalid
from training.autoencoder_build import AUTOENCODER_KEYS, LOSS_TERMS, build_autoencoder, validate_autoencoder_config
from training.autoencoder_outputs import AutoencoderOutputs
from training.logger import Logger, TermTracker
from training.loop import apply_gradients, train_loop
from training.precision import choose_precision
from training.resume import restore
from training.run_dir import register_resolvers
from training.setup import setup, train_or_exit
from training.validate import check_resume_argument

log = logging.getLogger("train")
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="train_autoencoder")
def main(cfg: DictConfig) -> None:
    train_or_exit(train, cfg)


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
    model = parts.model

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
    logger = Logger.for_run(run_dir, dist, cfg, step, resumed=resume_from is not None, hparams=False)
    outputs = AutoencoderOutputs(run_dir, cfg, parts, logger, dist)

    # --- loop, then close ---
    model.train()
    tracker = TermTracker(list(LOSS_TERMS), device)
    train_loop(cfg, run_dir, parts, lambda step, position: train_step(train_model, parts, cfg, step, position, dist, tracker),
               tracker, outputs, logger, dist, device, step, position, skipped)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parent / "configs", "train_autoencoder", also=check_resume_argument)
    main()
