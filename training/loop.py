"""The training loop that train.py and train_autoencoder.py share.

Steps until `max_steps`: each optimizer step, then the EMA, the LR schedule, a logging window every
`log_every` steps, the periodic outputs (previews, evaluations, checkpoints) and a stop on SIGTERM or
Ctrl-C (a final checkpoint, then exit). What differs between the scripts is passed in: the step itself
(its loss), the tracker of what it logs, and its outputs. A non-finite step never reaches the weights;
`max_bad_steps` of them in a row stop the run with the last good checkpoint kept.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from training import distributed as ddp
from training.signals import StopRequest

log = logging.getLogger("train")  # console and <run>/train.log (configs/hydra/job_logging/train.yaml)

StepFunction = Callable[[int, int], tuple[torch.Tensor, bool]]  # (step, data position) -> (grad_norm, finite)


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. non-finite steps); the last good checkpoint is kept."""


def apply_gradients(model, optimizer, scaler, grad_clip: float, precision: str):
    """Unscale, clip and step, unless the gradient is not finite. Returns (grad_norm, finite)."""
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    # One host sync per step: a non-finite loss or gradient must never reach the weights.
    finite = bool(torch.isfinite(grad_norm).item())
    if finite or precision == "fp16":  # fp16: GradScaler skips overflowing steps itself
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, finite


def train_loop(cfg, run_dir: Path, parts, train_step: StepFunction, tracker, outputs, logger, dist, device,
               step: int, position: int, skipped: int) -> None:
    """Train from (step, position, skipped) to cfg.max_steps or a stop signal, then close: the final outputs,
    the log line, the event file and the process group. `parts` has model, ema, lr_scheduler, optimizer and
    scaler; `tracker.read_and_reset(dist)` gives the window's losses; `outputs` writes checkpoint(step, position,
    skipped), preview(step) and evaluate(step), this loop says when."""
    stop, bad_steps, first_step = StopRequest(), 0, step
    launched = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, disable=not dist.is_main)
    train_seconds, window_steps = 0.0, 0
    try:
        while step < cfg.max_steps:
            started = time.perf_counter()
            grad_norm, finite = train_step(step, position)
            if finite:
                parts.ema.update(parts.model, step)
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
                log_window(logger, values, step, bar, dist)
                train_seconds, window_steps = 0.0, 0
            bar.update(1)
            periodic_outputs(outputs, cfg, step, position, skipped)
            if ddp.any_rank(stop.requested, device, dist):
                if dist.is_main:
                    log.info(f"{stop.signal_name or 'stop'} received: saving a checkpoint at step {step} and exiting")
                break

        bar.close()
        final_outputs(outputs, cfg, step, position, skipped, trained=step > first_step)
        if dist.is_main:
            log.info(f"finished at step {step} in {(time.perf_counter() - launched) / 60:.1f} min "
                     f"({skipped} skipped steps) -> {run_dir}")
        logger.close()
    finally:
        stop.restore()
        ddp.cleanup(dist)


def log_window(logger, values: dict[str, float], step: int, bar, dist) -> None:
    """One logging window: TensorBoard scalars, the progress bar, and a line in train.log."""
    logger.scalars(values, step)
    bar.set_postfix(loss=f"{values['train/loss']:.4f}", img_s=f"{values['train/img_per_s']:.0f}")
    if dist.is_main:
        log.debug(f"step {step}  " + "  ".join(f"{k.removeprefix('train/')} {v:.4g}" for k, v in values.items()))


def periodic_outputs(outputs, cfg, step: int, position: int, skipped: int) -> None:
    """The outputs due after `step` within the run (the last step's: `final_outputs`)."""
    due = lambda every: every and step % every == 0 and step < cfg.max_steps
    if due(cfg.sample_every):
        outputs.preview(step)
    if due(outputs.eval_every):
        outputs.evaluate(step)
    if due(cfg.ckpt_every):
        outputs.checkpoint(step, position, skipped)


def final_outputs(outputs, cfg, step: int, position: int, skipped: int, trained: bool) -> None:
    """A checkpoint always; the last preview and evaluation when this process took the run to its end."""
    outputs.checkpoint(step, position, skipped)
    if trained and step == cfg.max_steps:
        if cfg.sample_every:
            outputs.preview(step)
        if outputs.eval_every:
            outputs.evaluate(step)
