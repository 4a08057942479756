"""The schemas of configs/scripts/studio.yaml and studio_worker.yaml: the studio app and its workers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from schemas.fields import at_least, choice, in_range, positive
from schemas.train import PRECISIONS


@dataclass
class StudioConfig:
    run: str = MISSING                 # the run folder whose checkpoints the studio serves
    port: int = in_range(0, 65535)     # on 127.0.0.1 only; 0: any free port
    queue: Optional[str] = MISSING     # null: in-process; redis://host:6379/0: workers
    device: str = MISSING
    precision: str = choice(*PRECISIONS)
    progress_every: int = at_least(0)  # a live frame every k sampler steps (0: none)
    max_upload_mb: float = positive()


@dataclass
class StudioWorkerConfig:
    run: str = MISSING
    queue: str = MISSING               # redis://host:6379/0
    device: str = MISSING
    precision: str = choice(*PRECISIONS)
    name: Optional[str] = MISSING      # null: <hostname>-<pid>
    claim_timeout: float = positive()  # seconds a dead worker's job waits before another worker takes it
