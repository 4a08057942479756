"""Graceful stop: SIGTERM or Ctrl-C asks the loop to write a final checkpoint and exit cleanly.

The handler only sets a flag that the loop checks between steps, so a step is never interrupted
half-way; a second Ctrl-C interrupts at once.
"""
from __future__ import annotations

import signal


class StopRequest:
    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
