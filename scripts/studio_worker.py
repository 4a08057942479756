"""A studio worker: runs the jobs that `scripts/studio.py queue=redis://...` puts on a Redis Stream.

    python scripts/studio_worker.py run=<run dir> queue=redis://localhost:6379/0

Start any number, on any machine that sees the run folder at the same path: each job goes to one worker,
and a job whose worker dies is taken over by another after claim_timeout seconds (studio/queues/redis_streams.py).
SIGTERM (or Ctrl-C) drains a worker: it finishes and acknowledges the job in hand, then exits with status 0;
a second signal stops it at once (the job is then taken over by another worker, as after a crash).
"""
from __future__ import annotations

import signal
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

    def drain(signum, frame):
        print(f"studio worker {worker.name}: {signal.Signals(signum).name} received, finishing the job in hand "
              f"(again to stop at once)", flush=True)
        worker.stop()
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    print(f"studio worker {worker.name}: serving {cfg.run} from {cfg.queue}", flush=True)
    worker.serve()
    print(f"studio worker {worker.name}: stopped", flush=True)


@hydra.main(version_base="1.3", config_path="../configs/scripts", config_name="studio_worker")
def main(cfg: DictConfig) -> None:
    run_or_exit(work, cfg)


if __name__ == "__main__":
    exit_if_invalid(CONFIGS, "studio_worker")
    main()
