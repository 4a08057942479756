"""What a studio job asks for: one JSON-serialisable record, the same for the in-process queue and Redis.

Images travel inside the spec as base64 PNG (codec.py), so a worker on another machine needs nothing
but the spec and the run folder. `parent` names the history entry a branch (rewind) continues.
"""
from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import asdict, dataclass, field, fields

from schemas.check import ConfigError

KINDS = ("generate", "branch", "img2img", "inpaint", "invert", "attention", "compare")
ID = re.compile(r"^[0-9a-f]{6,32}$")
CREATED = re.compile(r"^\d{8}-\d{6}-\d{6}$")


def utc_stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")


@dataclass
class JobSpec:
    kind: str
    prompt: str = ""
    sampler: str | None = None           # None: the run's own sampler
    num_steps: int | None = None
    guidance_scale: float | None = None
    binding: str | None = None           # None: the run's; none | composable | attend_excite | syngen
    seed: int = 0
    batch: int = 1
    checkpoint: str | None = None        # None: the newest; a step number or folder name
    progress_every: int = 1              # a progress frame every k steps (0: none)
    strength: float = 0.6                # img2img
    image: str | None = None             # img2img, inpaint, invert, attention: base64 PNG
    mask: str | None = None              # inpaint: base64 PNG of the image's size, white = regenerate
    method: str | None = None            # inpaint: blend | repaint; invert: negative_prompt | plain
    source_prompt: str | None = None     # invert / attention on an image: what it shows
    parent: str | None = None            # branch: the history entry whose trajectory is rewound
    step: int = 0                        # branch: the step to continue from
    index: int = 0                       # branch: which image of the parent's batch
    other_run: str | None = None         # compare: another run folder (None: this run)
    other_checkpoint: str | None = None  # compare: its checkpoint (None: the newest)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(default_factory=utc_stamp)  # UTC; with the id, it names the job's history entry

    def __post_init__(self):
        if not isinstance(self.id, str) or not ID.match(self.id):
            raise ConfigError(f"job id {self.id!r} must be 6 to 32 lowercase hex digits")
        if not isinstance(self.created, str) or not CREATED.match(self.created):
            raise ConfigError(f"job created={self.created!r} must be a UTC stamp like 20261123-141503-000000")
        if self.kind not in KINDS:
            raise ConfigError(f"unknown job kind {self.kind!r}; valid choices: {', '.join(KINDS)}")
        if not 1 <= self.batch <= 16:
            raise ConfigError(f"batch={self.batch} must be in 1..16")
        if self.progress_every < 0:
            raise ConfigError(f"progress_every={self.progress_every} must be >= 0 (0: no frames)")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown job spec keys {unknown}; valid keys: {', '.join(sorted(known))}")
        return cls(**data)

    def parameters(self) -> dict:
        """What the history keeps to reload the form: everything but the (large) image payloads."""
        return {k: v for k, v in asdict(self).items() if k not in ("image", "mask")}
