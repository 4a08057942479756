"""A studio worker: runs the jobs that `scripts/studio.py queue=redis://...` puts on a Redis Stream.

    python scripts/studio_worker.py run=<run dir> queue=redis://localhost:6379/0

Start any number, on any machine that sees the run folder at the same path: each job goes to one worker,
and a job whose worker dies is taken over by another after claim_timeout seconds (studio/queues/redis_streams.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

# Python puts scripts/ first on sys.path, where scripts/studio.py would shadow the `studio` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import hydra  # noqa: E402
from omegaconf import DictConfig

from generation.loading import run_or_exit
from schemas.command_line import exit_if_invalid
from studio.jobs import JobRunner
from studio.queues.redis_streams import RedisWorker

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "scripts"


def work(cfg: DictConfig) -> None:
    runner = JobRunner(cfg.run, cfg.device, cfg.precision)
    worker = RedisWorker(cfg.queue, runner, cfg.name, cfg.claim_timeout)
    print(f"studio worker {worker.name}: serving {cfg.run} from {cfg.queue}", flush=True)
    try:
        worker.serve()
    except KeyboardInterrupt:
        worker.stop()


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="studio_worker")
def main(cfg: DictConfig) -> None:
    run_or_exit(work, cfg)


if __name__ == "__main__":
    exit_if_invalid(CONFIGS, "studio_worker")
    main()
