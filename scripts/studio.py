"""The studio: a local web app over a trained run (generate and watch, rewind, img2img, inpaint, invert,
attention maps, compare checkpoints, history).

    python scripts/studio.py run=<run dir>                            (then open the printed address)
    python scripts/studio.py run=<run dir> port=7861 queue=redis://localhost:6379/0   (jobs on scripts/studio_worker.py)

Serves on 127.0.0.1 only; results go to <run>/studio/. The page and the jobs live in studio/.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Python puts scripts/ first on sys.path, where this file would shadow the `studio` package it serves.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import hydra  # noqa: E402
from omegaconf import DictConfig

from generation.loading import run_or_exit
from schemas.command_line import exit_if_invalid
from studio.app import build_app, launch, make_studio
from studio.jobs import JobRunner
from studio.queues import make_queue

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "scripts"


def serve(cfg: DictConfig, block: bool = True):
    runner = None if cfg.queue else JobRunner(cfg.run, cfg.device, cfg.precision)
    studio = make_studio(cfg.run, make_queue(cfg.queue, runner), cfg.progress_every, cfg.max_upload_mb)
    return launch(build_app(studio), studio, cfg.port, block)


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="studio")
def main(cfg: DictConfig) -> None:
    run_or_exit(serve, cfg)


if __name__ == "__main__":
    exit_if_invalid(CONFIGS, "studio")
    main()
