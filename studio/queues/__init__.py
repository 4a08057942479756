"""Job queues: submit(spec) -> an iterator of the job's events, ending with its result or error.

    make_queue(None, runner)              the in-process queue (default): one thread runs the job code
    make_queue("redis://host:6379/0")     Redis Streams: workers (scripts/studio_worker.py) run it
Both run studio/jobs.py's JobRunner, so the two paths cannot drift.
"""
from __future__ import annotations

from schemas.check import ConfigError


def make_queue(url: str | None, runner=None, **options):
    if url in (None, "", "local"):
        from studio.queues.local import LocalQueue
        return LocalQueue(runner)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from studio.queues.redis_streams import RedisQueue
        return RedisQueue(url, **options)
    raise ConfigError(f"queue={url!r}: valid choices: null (in-process), redis://host:port/db")
