"""Train a text-conditioned DDPM.

    python train.py +experiment=xa_cos                   # runs/xa_cos/<timestamp>/
    python train.py +experiment=xa_cos resume=auto       # continue the newest xa_cos run
    python train.py -m +experiment=xa_cos,sa_lin         # several runs, one after another
    torchrun --nproc_per_node=2 train.py +experiment=xa_cos

Reads top to bottom like DiT's train.py: setup -> build -> maybe resume -> loop -> close. The maths is in
diffusion/, the networks in models/, the datasets in data/, the machinery (checkpoints, EMA, logging,
batches) in training/. Each run folder holds Hydra's .hydra/, the TensorBoard events, checkpoints/ and
samples/.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass
import time
from pathlib import Path

import datasets
import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from data.hub import HubDatasetUnavailable
from diffusion.losses import training_losses
from evaluation.runner import evaluate, summary, write_results
from models.embedding_cache import EmbeddingCache
from training import distributed as ddp
from training.batches import BatchStream, derived_seed
from training.checkpoint import CheckpointError, remove_partial_checkpoints
from training.ema import EMA
from training.logger import Logger, LossTracker
from training.lr_schedule import build_lr_scheduler
from training.preview import preview_prompts, write_preview
from training.resume import find_resume_checkpoint, restore, save
from training.run_dir import resolve_run_dir
from training.sampling import SamplerSettings, autocast, make_generate
from training.signals import StopRequest
from training.validate import ConfigError, check_precision, preflight, select_device, validate_config


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. non-finite steps); the last good checkpoint is kept."""

OmegaConf.register_new_resolver("run_dir", resolve_run_dir, use_cache=True)
USER_ERRORS = (ConfigError, CheckpointError, HubDatasetUnavailable, FileNotFoundError, TrainingStopped)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        remove_if_unused(Path(HydraConfig.get().runtime.output_dir))
        sys.exit(2)


def remove_if_unused(run_dir: Path) -> None:
    """A run that failed its checks leaves no folder behind (Hydra makes it before the checks run)."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}:
        shutil.rmtree(run_dir)
        for parent in (run_dir.parent, run_dir.parent.parent):  # runs/<name>/ and runs/, when left empty
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()


def build_data_and_text(cfg: DictConfig, device: torch.device, dist: ddp.Distributed):
    """The dataset and an embedding cache holding every caption it can draw, plus the preview prompts.
    Rank 0 generates and encodes first, so the other ranks read its disk caches instead of racing it."""
    for turn in (0, 1):
        if dist.is_main == (turn == 0):
            data = instantiate(cfg.data.dataset, cache_dir=cfg.cache_dir)
            encoder = instantiate(cfg.text_encoder).to(device)
            cache = EmbeddingCache(encoder, cfg.cache_dir)
            cache.add(data.unique_captions() + preview_prompts(cfg, data))
        ddp.barrier(dist)
    return data, cache.to(device)


def train_step(model, train_model, schedule, stream, cache, optimizer, scaler, cfg, step, position, dist, tracker):
    """One optimizer step over grad_accum micro-batches. Returns (grad_norm, finite)."""
    for micro in range(cfg.grad_accum):
        batch = stream.micro_batch(position, step, dist.rank, dist.world_size, micro, cfg.grad_accum, cfg.batch_size)
        torch.manual_seed(derived_seed(cfg.seed, step, dist.rank, micro))  # dropout inside the network
        cond = cache.lookup(batch.rows).as_model_kwargs()
        # DDP averages gradients over ranks on the last micro-batch only.
        accumulate_only = dist.enabled and micro < cfg.grad_accum - 1
        with train_model.no_sync() if accumulate_only else contextlib.nullcontext():
            with autocast(batch.x0.device, cfg.precision):
                losses = training_losses(train_model, schedule, batch.x0, batch.t, batch.eps, cfg.prediction_type,
                                         cfg.min_snr_gamma, **cond)
            scaler.scale(losses.mean() / cfg.grad_accum).backward()
        tracker.add(losses, batch.t)
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
    # One host sync per step: a non-finite loss or gradient must never reach the weights.
    finite = bool(torch.isfinite(grad_norm).item())
    if finite or cfg.precision == "fp16":  # fp16: GradScaler skips overflowing steps itself
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, finite


@dataclass
class Parts:
    """Everything a run builds: data, text embeddings, network, optimisation state, diffusion schedule."""

    data: object
    cache: EmbeddingCache
    model: torch.nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    lr_scheduler: object
    scaler: torch.amp.GradScaler
    schedule: object
    stream: BatchStream

    def state(self) -> dict:
        """The objects a checkpoint saves and restores."""
        return dict(model=self.model, ema=self.ema, optimizer=self.optimizer, lr_scheduler=self.lr_scheduler, scaler=self.scaler)

    def derived(self) -> dict:
        """Config values derived from the data and the encoder, saved so a checkpoint rebuilds without them."""
        return {"in_channels": self.data.channels, "image_size": self.data.image_size, "context_dim": self.cache.encoder.dim}


def build(cfg: DictConfig, device: torch.device, dist: ddp.Distributed) -> Parts:
    data, cache = build_data_and_text(cfg, device, dist)
    model = instantiate(cfg.model, in_channels=data.channels, image_size=data.image_size, context_dim=cache.encoder.dim)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = instantiate(cfg.schedule)
    return Parts(
        data, cache, model, EMA(model, cfg.ema_decay, cfg.ema_warmup), optimizer,
        build_lr_scheduler(optimizer, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio),
        torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16"), schedule,
        BatchStream(data, cache.index, cache.null_row, cfg.p_uncond, schedule.num_timesteps, cfg.seed, device))


def train(cfg: DictConfig) -> None:
    # --- setup ---
    datasets.disable_progress_bars()
    device = select_device(cfg.device)
    dist = ddp.setup_distributed(device)
    device = ddp.local_device(device, dist.local_rank)
    validate_config(cfg, dist.world_size)
    check_precision(cfg.precision, device)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    resume_from = find_resume_checkpoint(cfg, run_dir)
    torch.manual_seed(cfg.seed)

    # --- build ---
    parts = build(cfg, device, dist)
    model, ema, schedule, cache = parts.model, parts.ema, parts.schedule, parts.cache

    # --- maybe resume ---
    step, position = restore(resume_from, **parts.state()) if resume_from else (0, 0)
    if dist.is_main:
        remove_partial_checkpoints(run_dir)
        print(f"run {run_dir}  model {model.num_parameters():,} parameters  data {len(parts.data)} images  "
              f"{len(cache)} captions cached  device {device}  world {dist.world_size}" +
              (f"  resumed at step {step}" if resume_from else ""), flush=True)
    train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else model
    if cfg.compile:
        train_model = torch.compile(train_model)
    logger = Logger(str(run_dir), dist, purge_step=step if resume_from else None)
    if step == 0:
        logger.text("config", f"```\n{OmegaConf.to_yaml(cfg, resolve=True)}\n```", 0)
    settings = SamplerSettings(**OmegaConf.to_container(cfg.sampler))
    evaluate_every = cfg.eval_every if cfg.data.get("evaluator") else 0  # datasets without an evaluator skip it

    def checkpoint():
        ddp.check_in_sync(model, dist)
        if dist.is_main:
            save(run_dir, step, position, cfg, parts.derived(), **parts.state())
        ddp.barrier(dist)

    def preview():
        if dist.is_main:
            write_preview(run_dir, ema.model, schedule, cache, cfg, parts.data, settings, device, step, logger)

    def evaluate_now():
        if dist.is_main:
            generate = make_generate(ema.model, schedule, cfg.prediction_type, cache, settings,
                                     (parts.data.channels, parts.data.image_size), cfg.seed, device, cfg.precision)
            results = evaluate(cfg.data.evaluator, generate, cfg.data.dataset, cfg.cache_dir, cfg.eval_samples)
            logger.scalars({f"eval/{k}": v for k, v in results.items() if not k.endswith("count")}, step)
            write_results(run_dir, step, results, cfg.eval_samples, settings.tag())
            tqdm.write(f"eval step {step}: {summary(results)}")

    # --- loop ---
    model.train()
    stop, tracker, bad_steps = StopRequest(), LossTracker(schedule.num_timesteps, device), 0
    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, disable=not dist.is_main)
    train_seconds, window_steps = 0.0, 0
    while step < cfg.max_steps:
        started = time.perf_counter()
        grad_norm, finite = train_step(model, train_model, schedule, parts.stream, cache, parts.optimizer, parts.scaler,
                                       cfg, step, position, dist, tracker)
        if finite:
            ema.update(model, step)
        # fp16: GradScaler starts high and halves its scale on each overflow; only overflows it cannot
        # explain (scale already below 1) count as bad steps.
        scaled_overflow = cfg.precision == "fp16" and parts.scaler.get_scale() >= 1.0
        bad_steps = 0 if finite or scaled_overflow else bad_steps + 1
        parts.lr_scheduler.step()
        step, position, window_steps = step + 1, position + cfg.batch_size, window_steps + 1
        train_seconds += time.perf_counter() - started
        if bad_steps >= cfg.max_bad_steps:
            raise TrainingStopped(
                f"training stopped at step {step}: {bad_steps} consecutive steps had a non-finite loss or gradient (none "
                f"reached the weights); the last good checkpoint in {run_dir / 'checkpoints'} is untouched -- lower lr, "
                f"use precision=fp32, or check the data")
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            values = tracker.read_and_reset(dist)
            values.update({"train/lr": parts.optimizer.param_groups[0]["lr"], "train/grad_norm": grad_norm.item(),
                           "train/img_per_s": window_steps * cfg.batch_size / train_seconds, "train/skipped_steps": bad_steps})
            logger.scalars(values, step)
            bar.set_postfix(loss=f"{values['train/loss']:.4f}", img_s=f"{values['train/img_per_s']:.0f}")
            train_seconds, window_steps = 0.0, 0
        bar.update(1)
        if cfg.sample_every and step % cfg.sample_every == 0 and step < cfg.max_steps:
            preview()
        if evaluate_every and step % evaluate_every == 0 and step < cfg.max_steps:
            evaluate_now()
        if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < cfg.max_steps:
            checkpoint()
        if ddp.any_rank(stop.requested, device, dist):
            if dist.is_main:
                print(f"\n{stop.signal_name or 'stop'} received: saving a checkpoint at step {step} and exiting", flush=True)
            break

    # --- close ---
    bar.close()
    checkpoint()
    if step == cfg.max_steps and cfg.sample_every:
        preview()
    if step == cfg.max_steps and evaluate_every:
        evaluate_now()
    logger.close()
    stop.restore()
    ddp.cleanup(dist)


if __name__ == "__main__":
    try:
        preflight(sys.argv[1:], Path(__file__).resolve().parent / "configs")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    main()
