"""The Redis Streams queue against a real redis-server and two real worker processes: every job is run by
exactly one worker, and a job whose worker is killed mid-job is finished by the other."""
import os
import signal
import time

import pytest

from studio.history import History
from studio.spec import JobSpec
from tests.studio.redis_fixture import start_redis, start_worker, stop

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop(process)


@pytest.fixture(scope="module")
def workers(redis_url, tiny_run):
    started = {}
    try:
        for name in ("w0", "w1"):
            started[name] = start_worker(tiny_run, redis_url, name)
        yield started
    finally:
        for process in started.values():
            stop(process)


@pytest.fixture(scope="module")
def queue(redis_url):
    from studio.queues.redis_streams import RedisQueue
    queue = RedisQueue(redis_url)
    yield queue
    queue.close()


def test_twenty_jobs_on_two_workers_are_each_run_exactly_once(workers, queue, tiny_run):
    specs = [JobSpec(kind="generate", prompt="a large blue square", num_steps=2, seed=i) for i in range(20)]
    for spec in specs:
        queue.enqueue(spec)
    runs = {}
    for spec in specs:
        seen = list(queue.events(spec.id, timeout=120))
        assert [e["event"] for e in seen] == ["progress", "progress", "result"], seen[-1]
        assert len({e["worker"] for e in seen}) == 1  # one worker ran the whole job
        runs[spec.id] = seen[-1]["worker"]
    saved = [History(tiny_run).params(entry)["spec"] for entry in History(tiny_run).entries()]
    ids = [s["id"] for s in saved if s["id"] in runs]
    assert sorted(ids) == sorted(runs) and set(runs.values()) <= {"w0", "w1"}
    assert settles_to_no_pending(queue)


def settles_to_no_pending(queue, seconds=10.0):
    """A worker acknowledges a job just after writing its result (a death in between reruns it, never loses it)."""
    for _ in range(int(seconds / 0.05)):
        if queue.client.xpending(queue.streams.jobs, queue.streams.group)["pending"] == 0:
            return True
        time.sleep(0.05)
    return False


def test_a_job_whose_worker_is_killed_mid_job_is_finished_by_the_other(workers, queue):
    spec = JobSpec(kind="generate", prompt="a small red circle in the top left", num_steps=50, batch=16, seed=1)
    stream = queue.submit(spec, timeout=120)
    first = next(stream)
    assert first["event"] == "progress" and first["step"] == 0
    # Freeze every write (the worker's next progress frame) so the kill lands mid-job, then SIGKILL it.
    queue.client.client_pause(10_000, all=False)
    victim = workers[first["worker"]]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    queue.client.client_unpause()
    rest = list(stream)
    assert rest[-1]["event"] == "result" and rest[-1]["worker"] != first["worker"]
    assert [e["step"] for e in rest if e["event"] == "progress" and e["worker"] == rest[-1]["worker"]][0] == 0  # rerun from the start
    assert settles_to_no_pending(queue)


def test_sigterm_lets_a_worker_finish_its_job_then_exit(workers, queue):
    alive = {name: process for name, process in workers.items() if process.poll() is None}
    spec = JobSpec(kind="generate", prompt="a large blue square", num_steps=50, batch=16, seed=2)
    stream = queue.submit(spec, timeout=120)
    first = next(stream)
    assert first["event"] == "progress" and first["worker"] in alive
    worker = alive[first["worker"]]
    os.kill(worker.pid, signal.SIGTERM)
    rest = list(stream)
    assert rest[-1]["event"] == "result" and rest[-1]["worker"] == first["worker"]  # the job in hand is finished
    assert worker.wait(timeout=30) == 0  # then the worker leaves, cleanly
    assert "SIGTERM received" in worker.stdout.read()
    assert settles_to_no_pending(queue)


@pytest.fixture
def two_more_workers(redis_url, tiny_run):
    started = {}
    try:
        for name in ("w2", "w3"):
            started[name] = start_worker(tiny_run, redis_url, name)
        yield started
    finally:
        for process in started.values():
            stop(process)


def test_a_worker_killed_between_saving_a_job_and_announcing_it_leaves_one_entry(two_more_workers, queue, tiny_run):
    """The window a kill can hit: the entry is on disk, the result event not yet in Redis. Made certain by pausing
    Redis's writes once a worker holds the job: the worker saves the entry, then waits on its result write."""
    alive = two_more_workers
    spec = JobSpec(kind="generate", prompt="a large blue square", num_steps=2, seed=11, progress_every=0)
    queue.enqueue(spec)
    holder = None
    for _ in range(400):  # until a worker has read it (its pending entry names the worker)
        pending = queue.client.xpending_range(queue.streams.jobs, queue.streams.group, min="-", max="+", count=10)
        holder = next((p["consumer"] for p in pending), None)
        if holder:
            break
        time.sleep(0.025)
    assert holder in alive
    queue.client.client_pause(180_000, all=False)  # writes wait (until unpaused): the result event, the claim refresh, the XACK
    entry = History(tiny_run).folder(History.entry_for(spec))
    for _ in range(4000):  # a loaded machine can take its time over the job
        if (entry / "result.json").is_file():
            break
        time.sleep(0.025)
    assert (entry / "result.json").is_file()
    os.kill(alive[holder].pid, signal.SIGKILL)
    alive[holder].wait()
    queue.client.client_unpause()
    seen = list(queue.events(spec.id, timeout=120))
    assert [e["event"] for e in seen] == ["result"] and seen[-1]["worker"] != holder  # announced by the other
    assert seen[-1]["entry"] == entry.name
    assert [e for e in History(tiny_run).entries() if e.endswith(spec.id)] == [entry.name]
    assert settles_to_no_pending(queue)


def test_a_worker_whose_redis_goes_away_says_so_in_one_line_and_serves_again_when_it_is_back(tiny_run, tmp_path):
    from studio.queues.redis_streams import RedisQueue
    from tests.studio.redis_fixture import free_port
    port = free_port()
    server, url = start_redis(tmp_path, port)
    worker = start_worker(tiny_run, url, "phoenix")
    try:
        stop(server)
        time.sleep(4)  # two or three failed tries: 1 s, 2 s, ...
        server, url = start_redis(tmp_path, port)
        queue = RedisQueue(url)
        seen = list(queue.submit(JobSpec(kind="generate", prompt="a large blue square", num_steps=2), timeout=120))
        assert seen[-1]["event"] == "result" and seen[-1]["worker"] == "phoenix", seen[-1]
        queue.close()
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
        stop(server)
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "Redis does not answer" in line]
    assert len(lines) >= 2 and all(line.startswith("studio worker phoenix: Redis does not answer") for line in lines)
