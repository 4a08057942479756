"""Where a run lives: runs/<name>/<timestamp>/, or the folder of the run being resumed.

Registered as the Hydra resolver `run_dir` (see train.py), so Hydra's own output folder (.hydra/,
the TensorBoard events, checkpoints/, samples/) is the resumed run's folder when resuming.
"""
from __future__ import annotations

import datetime
from pathlib import Path

from training.checkpoint import checkpoint_dirs

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
        return str(Path(root) / name / datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
    return str(resume)
