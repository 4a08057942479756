"""Queue chaos: jobs on a Redis Streams worker pool while workers are killed, many of them in the window between
saving a job's history entry and announcing it. Prints jobs, kills, lost jobs and duplicated entries.

    python scripts/probe_queue_chaos.py --run runs/xa_cos/<timestamp> --jobs 30 --kills 6

Starts its own redis-server on a free 127.0.0.1 port and `--workers` scripts/studio_worker.py processes. Each kill
waits until some worker holds a job, pauses Redis's writes, waits for that job's entry to appear on disk (the worker
then blocks on its result event: the save-then-die window), SIGKILLs the worker, resumes Redis and starts a new
worker. A job is lost if no final event arrives for it; an entry is duplicated if two history folders carry one job id.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.history import History  # noqa: E402
from studio.spec import JobSpec  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(run: str, url: str, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "studio_worker.py"), f"run={run}", f"queue={url}",
                             f"name={name}", "claim_timeout=3", "device=cpu"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    import redis

    from studio.queues.redis_streams import RedisQueue
    folder = tempfile.mkdtemp()
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    time.sleep(0.5)
    workers = {f"w{i}": start_worker(args.run, url, f"w{i}") for i in range(args.workers)}
    queue, history, kills = RedisQueue(url), History(args.run), 0
    try:
        time.sleep(8)  # the workers load the model
        specs = [JobSpec(kind="generate", prompt="a large blue square", num_steps=4, seed=i, progress_every=0)
                 for i in range(args.jobs)]
        for spec in specs:
            queue.enqueue(spec)
        for k in range(args.kills):
            held = []
            while not held:  # a job a live worker holds (pending), and its spec
                pending = [p for p in queue.client.xpending_range(queue.streams.jobs, queue.streams.group, "-", "+", 20)
                           if p["consumer"] in workers and workers[p["consumer"]].poll() is None]
                held = pending and queue.client.xrange(queue.streams.jobs, pending[0]["message_id"], pending[0]["message_id"])
                time.sleep(0.02)
            holder, spec = pending[0]["consumer"], JobSpec.from_json(held[0][1]["spec"])
            queue.client.client_pause(60_000, all=False)
            entry = history.folder(History.entry_for(spec)) / "result.json"
            deadline = time.time() + 50
            while not entry.is_file() and time.time() < deadline:
                time.sleep(0.02)
            if holder in workers:
                os.kill(workers[holder].pid, signal.SIGKILL)
                workers[holder].wait()
                kills += 1
                workers[f"{holder}r{k}"] = start_worker(args.run, url, f"{holder}r{k}")
            queue.client.client_unpause()
        ends = {spec.id: [e for e in queue.events(spec.id, timeout=300)][-1] for spec in specs}
        finals = {job: end["event"] for job, end in ends.items()}
        for job, end in ends.items():
            if end["event"] != "result":
                print(f"job {job}: {end.get('message')}")
        entries = [History(args.run).params(e)["spec"]["id"] for e in History(args.run).entries()]
        lost = sum(event != "result" for event in finals.values())
        duplicated = sum(entries.count(spec.id) > 1 for spec in specs)
        print(f"jobs {len(specs)}, workers killed {kills} (each in the save-then-announce window), lost {lost}, "
              f"jobs with duplicated entries {duplicated}, entries for these jobs "
              f"{sum(entries.count(spec.id) for spec in specs)}")
    finally:
        for process in workers.values():
            process.kill()
        server.kill()
        try:
            queue.close()
        except redis.exceptions.RedisError:
            pass


if __name__ == "__main__":
    main()
