"""Train a text-conditioned DDPM.

    python train.py +experiment=xa_cos                   # runs/xa_cos/<timestamp>/
    python train.py +experiment=xa_cos resume=auto       # continue the newest xa_cos run
    python train.py -m +experiment=xa_cos,sa_lin         # several runs, one after another
    torchrun --nproc_per_node=2 train.py +experiment=xa_cos

Reads top to bottom like DiT's train.py: setup -> build -> maybe resume -> loop -> close. The maths is in
diffusion/, the networks in models/, the datasets in data/, the run folder's files in runfolder/, the
machinery (building, batches, EMA, logging, previews, the loop shared with train_autoencoder.py) in
training/. Each run folder holds Hydra's .hydra/, the TensorBoard events, checkpoints/, samples/, eval/
and train.log.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from diffusion.losses import training_losses
from generation.sampling import SamplerSettings, autocast
from runfolder.checkpoint import remove_partial_checkpoints
from schemas.command_line import exit_if_invalid
from schemas.relations import validate_config
from training.batches import derived_seed
from training.build import build
from training.compile import compile_network, enable_compile_cache
from training.logger import Logger, LossTracker
from training.loop import apply_gradients, train_loop
from training.outputs import Outputs
from training.precision import choose_precision
from training.resume import COMPATIBLE_KEYS, restore
from training.run_dir import register_resolvers
from training.setup import setup, train_or_exit
from training.validate import check_resume_argument

log = logging.getLogger("train")  # console and <run>/train.log (configs/hydra/job_logging/train.yaml)
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    train_or_exit(train, cfg)


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
    device, dist, run_dir, resume_from = setup(cfg, validate_config, COMPATIBLE_KEYS)
    torch.manual_seed(cfg.seed)

    # --- build ---
    parts = build(cfg, device, dist)
    model = parts.model

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
    logger = Logger.for_run(run_dir, dist, cfg, step, resumed=resume_from is not None)
    outputs = Outputs(run_dir, cfg, parts, logger, SamplerSettings(**OmegaConf.to_container(cfg.sampler)), device, dist)

    # --- loop, then close ---
    model.train()
    tracker = LossTracker(parts.schedule.num_timesteps, device)
    train_loop(cfg, run_dir, parts, lambda step, position: train_step(train_model, parts, cfg, step, position, dist, tracker),
               tracker, outputs, logger, dist, device, step, position, skipped)


if __name__ == "__main__":
    exit_if_invalid(Path(__file__).resolve().parent / "configs", "train", also=check_resume_argument)
    main()
