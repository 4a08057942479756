"""What a training script does before its first step, and when a user's mistake stops it.

`setup` chooses the device, joins the process group, checks the config, agrees on the run folder (Hydra's,
or the resumed run's) and finds the checkpoint to resume. `run_or_exit` turns the errors a user can cause
into one line on stderr and exit status 2, removing the run folder Hydra made if nothing was written to it.
Shared by train.py and train_autoencoder.py.
"""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import datasets
from hydra.core.hydra_config import HydraConfig

from data.hub import HubDatasetUnavailable
from runfolder.checkpoint import CheckpointError
from runfolder.device import check_precision, select_device
from runfolder.precision import native_bf16
from schemas.check import ConfigError
from training import distributed as ddp
from training.loop import TrainingStopped
from training.resume import find_resume_checkpoint

log = logging.getLogger("train")

USER_ERRORS = (ConfigError, CheckpointError, HubDatasetUnavailable, FileNotFoundError, TrainingStopped)


def train_or_exit(train, cfg) -> None:
    """train(cfg); a user error becomes one line on stderr (and in train.log) and exit status 2."""
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


def setup(cfg, validate, resume_keys):
    """Device, process group and checks (`validate(cfg, world_size)`), before any work. Returns (device, dist,
    run_dir, checkpoint to resume, whose config must match in `resume_keys`)."""
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
