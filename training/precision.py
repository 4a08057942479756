"""`precision: auto` for a training run (the choice itself: runfolder/precision.py), said in its log and agreed
by every rank."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch

from runfolder.precision import BF16_MARGIN, measured_choice, needs_measuring, resolve_precision
from training import distributed as ddp

log = logging.getLogger("train")


def choose_precision(precision: str, device: torch.device, dist, measure: Callable[[str], None],
                     cache_dir: str | Path | None, signature: str) -> str:
    """`resolve_precision` for a training run, said in its log: where auto needs a measurement, rank 0 measures
    (or reads the cache) and every rank takes its answer. Shared by train.py and train_autoencoder.py."""
    if not needs_measuring(precision, device):
        return resolve_precision(precision, device)
    choice = None
    if dist.is_main:
        choice = measured_choice(measure, cache_dir, signature)
        how = "timed before on this machine" if choice["cached"] else "timed now"
        log.info(f"precision auto -> {choice['precision']}: a training step takes {choice['fp32_ms']} ms in fp32, "
                 f"{choice['bf16_ms']} ms in bf16 ({how}; bf16 where it is at least {BF16_MARGIN:.2f}x faster)")
    return ddp.broadcast_from_main(choice, dist)["precision"]
