"""Where a run lives: runs/<name>/<timestamp>/, or the folder of the run being resumed.

Registered as the Hydra resolver `run_dir` by `register_resolvers` (train.py, train_autoencoder.py), so Hydra's own output folder (.hydra/,
the TensorBoard events, checkpoints/, samples/) is the resumed run's folder when resuming.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path

from omegaconf import OmegaConf

from runfolder.checkpoint import checkpoint_dirs

RUNS = "runs"


def latest_run(name: str, root: str = RUNS) -> Path | None:
    """The newest run of experiment `name` that has at least one checkpoint."""
    folder = Path(root) / name
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and checkpoint_dirs(p)) if folder.is_dir() else []
    return runs[-1] if runs else None


def resolve_run_dir(resume: str | None, name: str, root: str = RUNS) -> str:
    """resume=null: a new folder; auto: the latest run with a checkpoint, else a new folder; a path: itself."""
    name = str(name)  # Hydra parses name=1e3 or name=nan as numbers
    if resume in (None, "", "auto"):
        found = latest_run(name, root) if resume == "auto" else None
        if found is not None:
            return str(found)
        return str(Path(root) / name / launch_time().strftime("%Y-%m-%d_%H-%M-%S"))
    return str(resume)


def launch_time() -> datetime.datetime:
    """Now, or under torchrun the start time of its agent process (the parent of every local rank), so
    that all ranks of a node name the same run folder instead of each taking its own clock reading."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        try:
            ticks = int(open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()[19])
            boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
            return datetime.datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError, StopIteration):
            pass  # not Linux: train.py still makes every rank use rank 0's folder
    return datetime.datetime.now()


def on_rank_zero(value):
    """Resolver: the value on rank 0 (or without torchrun), null on the other ranks."""
    return value if os.environ.get("RANK", "0") == "0" else None


def register_resolvers() -> None:
    """`run_dir` and `on_rank_zero` for the training configs' hydra section (once per process)."""
    if not OmegaConf.has_resolver("run_dir"):
        OmegaConf.register_new_resolver("run_dir", resolve_run_dir, use_cache=True)
    if not OmegaConf.has_resolver("on_rank_zero"):
        OmegaConf.register_new_resolver("on_rank_zero", on_rank_zero)
