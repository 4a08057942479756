"""The in-process queue: jobs run one at a time on a background thread (one model, one set of attention
processors: two jobs at once would share them), events come back through a thread-safe queue."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from studio.events import is_final
from studio.spec import JobSpec


class LocalQueue:
    def __init__(self, runner):
        self.runner = runner
        self._lock = threading.Lock()

    def submit(self, spec: JobSpec, timeout: float | None = None) -> Iterator[dict]:
        """The job's events as they happen; the last one is its result or error."""
        inbox: queue.Queue = queue.Queue()

        def work():
            with self._lock:
                self.runner.run_job(spec, inbox.put)

        threading.Thread(target=work, name=f"studio-job-{spec.id}", daemon=True).start()
        while True:
            event = inbox.get(timeout=timeout)
            yield event
            if is_final(event):
                return

    def close(self) -> None:
        pass
