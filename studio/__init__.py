"""The studio: a local web app over a trained run, and the job queue behind it.

A job is a JSON-serialisable JobSpec (spec.py); the job code (jobs.py, kinds.py) runs generation/'s
functions, never the samplers directly, and reports progress frames and a result as plain dict events
(events.py). Queues (queues/) carry specs to that job code and events back: in-process by default, or
on Redis Streams to a pool of workers. Every result lands in <run>/studio/ (history.py).
"""
