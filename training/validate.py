"""train.py's command line, checked before Hydra acts on it: the resume folder, then every run it asks for
against the schemas (schemas/command_line.py). The composed config's own checks: schemas/relations.py."""
from __future__ import annotations

from pathlib import Path

from runfolder.checkpoint import checkpoint_dirs
from schemas.check import ConfigError
from schemas.command_line import check_command_line


def check_resume_argument(argv: list[str]) -> None:
    """resume=<folder> on the command line must be a run with a checkpoint: Hydra would otherwise create
    the missing folder as this run's folder."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") == "resume" and value not in ("", "null", "auto"):
            if not checkpoint_dirs(value):
                raise ConfigError(f"resume={value}: no checkpoint in {value}/checkpoints/ -- not a run folder, or it never saved")


def preflight(argv: list[str], config_dir: Path) -> None:
    """train.py's command line, checked before Hydra acts on it (see schemas/command_line.py): the resume
    folder, then the composed config of every run it asks for against the schemas. Raises ConfigError."""
    check_resume_argument(argv)
    check_command_line(argv, config_dir, "train")
