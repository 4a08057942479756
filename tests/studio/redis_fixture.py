"""A real redis-server on a free port in a temporary folder, and studio workers as subprocesses; all of them
are stopped by the fixtures' finalizers, also when a test fails."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder: Path, port: int | None = None):
    """(the process, its redis:// url) on `port` (a free one by default); skips the test when redis-server or the
    redis client is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis queue tests need a real server")
    redis = pytest.importorskip("redis", reason="the redis Python client is not installed (pip install redis)")
    port = port or free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"redis-server did not answer on port {port}")


def start_worker(run: Path, url: str, name: str, claim_timeout: float = 2.0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "studio_worker.py"), f"run={run}", f"queue={url}",
                                f"name={name}", f"claim_timeout={claim_timeout}", "device=cpu"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        rest = process.stdout.read()
        stop(process)
        raise RuntimeError(f"worker {name} did not start: {line}{rest}")
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
