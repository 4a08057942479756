"""Jobs on Redis Streams: the app adds each JobSpec to one stream, a consumer group of workers
(scripts/studio_worker.py, any number, on any machine that sees the run folder) reads it, so each job goes
to exactly one worker; the worker writes the job's events to a stream of its own, which the app reads.

    <prefix>:jobs           XADD {"spec": json}  ->  XREADGROUP by the group <prefix>-workers
    <prefix>:job:<id>       the job's events (studio/events.py), kept for EVENTS_TTL_S after the last one

A job read but not yet acknowledged sits in the group's pending list. While it works, a worker claims its
job again every claim_timeout / 3 (XCLAIM resets the entry's idle time), so only a job whose worker died
goes idle for claim_timeout; any worker then takes it over with XAUTOCLAIM and runs it from the start
(the page sees its frames begin again), unless its final event was already written (then it is only
acknowledged) or its history entry already saved (then the runner announces that entry: studio/jobs.py). XACK
when the final event is written. A job whose workers died MAX_DELIVERIES times ends with an error event rather
than killing the pool. A worker whose Redis goes away says so in one line and tries again, waiting longer each
time (up to MAX_BACKOFF_S); the job in hand is then taken over like a dead worker's.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import redis

from schemas.check import ConfigError
from studio import events
from studio.spec import JobSpec

EVENTS_TTL_S = 3600
MAX_DELIVERIES = 3
MAX_BACKOFF_S = 30.0
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Streams:
    """The key names of one studio deployment on a Redis server."""

    def __init__(self, prefix: str = "studio"):
        self.jobs, self.group, self.prefix = f"{prefix}:jobs", f"{prefix}-workers", prefix

    def events(self, job: str) -> str:
        return f"{self.prefix}:job:{job}"


def connect(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        raise ConfigError(f"queue={url}: no Redis server answers there ({error}); start one with redis-server --port 6379") from None
    return client


class RedisQueue:
    """The app's side: submit a job, read its events back."""

    def __init__(self, url: str, prefix: str = "studio"):
        self.client, self.streams = connect(url), Streams(prefix)

    def submit(self, spec: JobSpec, timeout: float | None = 600.0) -> Iterator[dict]:
        """The job's events as workers write them; an error event if none arrives for `timeout` seconds, or if the
        Redis server does not answer."""
        try:
            self.enqueue(spec)
        except REDIS_DOWN as error:
            return iter([events.error(spec.id, f"the job queue's Redis server does not answer ({_first_line(error)})",
                                      "queue")])
        return self.events(spec.id, timeout)

    def enqueue(self, spec: JobSpec) -> None:
        self.client.xadd(self.streams.jobs, {"spec": spec.to_json()})

    def events(self, job: str, timeout: float | None = 600.0) -> Iterator[dict]:
        key, last, waited = self.streams.events(job), "0-0", 0.0
        while True:
            try:
                answer = self.client.xread({key: last}, block=1000, count=100)
            except REDIS_DOWN as error:
                yield events.error(job, f"the job queue's Redis server does not answer ({_first_line(error)})", "queue")
                return
            if not answer:
                waited += 1.0
                if timeout is not None and waited >= timeout:
                    yield events.error(job, f"no worker answered in {timeout:g} s: start scripts/studio_worker.py", "queue")
                    return
                continue
            waited = 0.0
            for last, fields in answer[0][1]:
                event = json.loads(fields["event"])
                yield event
                if events.is_final(event):
                    return

    def close(self) -> None:
        self.client.close()


class RedisWorker:
    """A worker: runs each job it is given (or reclaims) with `runner` (studio/jobs.py JobRunner)."""

    def __init__(self, url: str, runner, name: str | None = None, claim_timeout: float = 30.0, prefix: str = "studio"):
        if claim_timeout <= 0:
            raise ConfigError(f"claim_timeout={claim_timeout} must be > 0 seconds")
        self.client, self.streams, self.runner = connect(url), Streams(prefix), runner
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_timeout, self.stopping = claim_timeout, threading.Event()
        runner.worker = self.name
        self.ensure_group()

    def ensure_group(self) -> None:
        """The workers' consumer group (and the jobs stream), made if missing: at the first start, or after a Redis
        server restarted without its data."""
        try:
            self.client.xgroup_create(self.streams.jobs, self.streams.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def next_job(self, block_ms: int = 1000) -> tuple[str, dict] | None:
        """A job whose worker died (idle past claim_timeout), else a new one; None when there is none."""
        reclaimed = self.client.xautoclaim(self.streams.jobs, self.streams.group, self.name,
                                           min_idle_time=int(self.claim_timeout * 1000), start_id="0-0", count=1)
        if reclaimed[1]:
            return reclaimed[1][0]
        fresh = self.client.xreadgroup(self.streams.group, self.name, {self.streams.jobs: ">"}, count=1, block=block_ms)
        return fresh[0][1][0] if fresh else None

    def serve(self, max_jobs: int | None = None) -> int:
        """Work until stop() (or max_jobs jobs); returns the number of jobs run. While Redis is away, wait and
        try again (1 s, then twice as long each time up to MAX_BACKOFF_S), one line each time."""
        done, backoff = 0, 1.0
        while not self.stopping.is_set() and (max_jobs is None or done < max_jobs):
            try:
                job = self.next_job()
                if job is not None:
                    self.process(*job)
                    done += 1
                backoff = 1.0
            except (*REDIS_DOWN, events.EventLost) as error:
                print(f"studio worker {self.name}: Redis does not answer ({_first_line(error)}); trying again in "
                      f"{backoff:g} s", flush=True)
                self.stopping.wait(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF_S)
            except redis.exceptions.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                print(f"studio worker {self.name}: Redis lost the job queue (restarted without its data?); making it "
                      f"again", flush=True)
                self.ensure_group()
        return done

    def stop(self) -> None:
        self.stopping.set()

    def emit(self, job: str, event: dict) -> None:
        key = self.streams.events(job)
        try:
            self.client.xadd(key, {"event": events.dumps(event)})
            if events.is_final(event):
                self.client.expire(key, EVENTS_TTL_S)
        except REDIS_DOWN as error:
            raise events.EventLost(_first_line(error)) from None

    def process(self, message: str, fields: dict) -> None:
        """Run one job while keeping the claim on it fresh, then acknowledge it."""
        try:
            spec = JobSpec.from_json(fields["spec"])
        except (ConfigError, KeyError, TypeError, ValueError) as error:  # a malformed entry: nobody can run it
            self.acknowledge(message)
            print(f"studio worker {self.name}: dropped malformed job {message}: {error}")
            return
        if self.announced(spec.id):  # its worker died after the final event, before the XACK
            self.acknowledge(message)
            return
        pending = self.client.xpending_range(self.streams.jobs, self.streams.group, min=message, max=message, count=1)
        saved = self.runner.history.exists(self.runner.history.entry_for(spec))  # then running it only announces it
        if pending and pending[0]["times_delivered"] > MAX_DELIVERIES and not saved:
            self.emit(spec.id, events.error(spec.id, f"job abandoned: its workers died {MAX_DELIVERIES} times", self.name))
            self.acknowledge(message)
            return
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_claim, args=(message, done), daemon=True)
        keeper.start()
        try:
            self.runner.run_job(spec, lambda event: self.emit(spec.id, event))
        finally:
            done.set()
            keeper.join()
        self.acknowledge(message)

    def announced(self, job: str) -> bool:
        """Whether the job's event stream already ends with its final event."""
        last = self.client.xrevrange(self.streams.events(job), count=1)
        return bool(last) and events.is_final(json.loads(last[0][1]["event"]))

    def _keep_claim(self, message: str, done: threading.Event) -> None:
        while not done.wait(self.claim_timeout / 3):
            try:
                self.client.xclaim(self.streams.jobs, self.streams.group, self.name, min_idle_time=0,
                                   message_ids=[message], justid=True)
            except REDIS_DOWN:
                return  # serve() reports it; the job is then taken over like a dead worker's

    def acknowledge(self, message: str) -> None:
        self.client.xack(self.streams.jobs, self.streams.group, message)
        self.client.xdel(self.streams.jobs, message)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
