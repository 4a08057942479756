"""Every studio result, kept under <run>/studio/<entry>/ as 000.png, 001.png ... + result.json (all the
parameters, the checkpoint, timings), and a trajectory for text-to-image (what the step slider and a
branch read). Entry names start with a UTC timestamp, so sorting them lists the newest first across
restarts; a name is checked against that pattern before any path is built from it, so no request can
reach outside the studio folder.
"""
from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path

from generation.images import save_results
from schemas.check import ConfigError

ENTRY = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{6}$")


class History:
    def __init__(self, run: str | Path):
        self.root = Path(run) / "studio"

    def new_entry(self) -> str:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        return f"{stamp}-{uuid.uuid4().hex[:6]}"

    def folder(self, entry: str) -> Path:
        """<run>/studio/<entry>, for a well-formed entry name only."""
        if not isinstance(entry, str) or not ENTRY.match(entry):
            raise ConfigError(f"history entry {entry!r} is not a studio entry name (like 20261123-141503-000000-a1b2c3)")
        return self.root / entry

    def save(self, entry: str, images, params: dict) -> Path:
        """images: (N, C, H, W) uint8 or a list of (C, H, W); params: JSON-able."""
        return save_results(self.folder(entry), images, {"entry": entry, **params})

    def entries(self) -> list[str]:
        """Finished entries (with a result.json), newest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if ENTRY.match(p.name) and (p / "result.json").is_file()]
        return sorted(found, reverse=True)

    def params(self, entry: str) -> dict:
        path = self.folder(entry) / "result.json"
        if not path.is_file():
            raise ConfigError(f"history entry {entry} has no result.json in {self.root}")
        return json.loads(path.read_text())

    def images(self, entry: str) -> list[Path]:
        return sorted(self.folder(entry).glob("[0-9][0-9][0-9].png"))

    def file(self, entry: str, name: str) -> Path:
        """A file of an entry by bare name (no folders), resolved inside the studio folder."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"file name {name!r} must be a bare name inside the entry")
        path = (self.folder(entry) / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ConfigError(f"{name!r} is outside {self.root}")
        return path
