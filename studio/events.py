"""The events a job sends back, as plain JSON-able dicts (the same on every queue):

    {"event": "progress", "job", "step", "steps", "t", "image": base64 PNG of the predicted x0, "worker"}
    {"event": "result",   "job", "entry": history id, "params", "seconds", "worker"}
    {"event": "error",    "job", "message": one line, "worker"}
A job ends with exactly one result or error event.
"""
from __future__ import annotations

import json

FINAL = ("result", "error")


class EventLost(RuntimeError):
    """The queue could not take an event (its server went away): the job is the queue's to run again, not an error
    to report."""


def progress(job: str, step: int, steps: int, t: int, image: str, worker: str = "local") -> dict:
    return {"event": "progress", "job": job, "step": step, "steps": steps, "t": t, "image": image, "worker": worker}


def result(job: str, entry: str, params: dict, seconds: float, worker: str = "local") -> dict:
    return {"event": "result", "job": job, "entry": entry, "params": params, "seconds": seconds, "worker": worker}


def error(job: str, message: str, worker: str = "local") -> dict:
    return {"event": "error", "job": job, "message": message, "worker": worker}


def dumps(event: dict) -> str:
    return json.dumps(event, default=str)


def is_final(event: dict) -> bool:
    return event["event"] in FINAL
