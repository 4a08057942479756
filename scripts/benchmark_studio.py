"""The studio's latency: seconds from a Generate request to its saved result, for runs side by side in one process.

    python scripts/benchmark_studio.py runs/xa_cos/<t> runs/distill_xa_cos/<t> --repeats 5

Each run is copied to a temporary folder (the jobs' history entries land there, not in the run) and served by the
studio's own JobRunner (studio/jobs.py): the same code the Generate tab and the Redis workers call, with a progress
frame every step as the page shows them, minus the browser's round trip. Each run samples with its own sampler,
steps and guidance (what the Generate tab starts with). After one warm-up job each, the runs take turns `--repeats`
times with one image per job and a fresh seed; prints the median seconds per job and the ratio to the first run.
Run it alone on the machine; set OMP_NUM_THREADS to the cores it may use.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Python puts scripts/ first on sys.path, where scripts/studio.py would shadow the `studio` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from studio.jobs import JobRunner
from studio.spec import JobSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--prompt", default="a large red circle")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runners = []
        for i, run in enumerate(args.runs):
            copy = Path(scratch) / f"{i}-{Path(run).name}"
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns("studio", "events.out.*", "samples", "eval"))
            runner = JobRunner(copy, device="cpu")
            runner.run_job(JobSpec(kind="generate", prompt=args.prompt, seed=0), lambda event: None)  # warm-up
            runners.append((run, runner, []))
        for repeat in range(args.repeats):
            for run, runner, seconds in runners:
                begin = time.perf_counter()
                final = runner.run_job(JobSpec(kind="generate", prompt=args.prompt, seed=1 + repeat), lambda event: None)
                seconds.append(time.perf_counter() - begin)
                if final["event"] != "result":
                    raise SystemExit(f"{run}: the job failed: {final}")
        print(f"| run | sampler | seconds per image (median of {args.repeats}) | x the first | "
              f"({torch.get_num_threads()} threads) |")
        print("| --- | --- | --- | --- | --- |")
        first = None
        for run, runner, seconds in runners:
            loaded = runner.loaded(runner.run, None)
            settings = runner.settings(loaded, JobSpec(kind="generate"))
            median = statistics.median(seconds)
            first = first or median
            print(f"| {run} | {settings.describe()} | {median:.3f} | {first / median:.1f}x faster | |")


if __name__ == "__main__":
    main()
