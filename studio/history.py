"""Every studio result, kept under <run>/studio/<entry>/ as 000.png, 001.png ... + result.json (all the
parameters, the checkpoint, timings), a thumbnail, and a trajectory for text-to-image (what the step slider and a
branch read).

One entry per job, whatever dies: the entry's name is the job's own (its UTC creation time, then its id), so a job
run again after its worker died finds the entry and announces it instead of writing a second one. An entry is
written into a hidden staging folder and renamed into place whole, so a reader sees a finished entry or none, and a
worker killed mid-job leaves only a `.staging-*` folder that nothing lists. Names start with the timestamp, so
sorting them lists the newest first across restarts; a name is checked against that pattern before any path is
built from it, so no request can reach outside the studio folder.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

from PIL import Image

from generation.grid import to_pil
from generation.images import save_results
from runfolder.atomic import write_atomic
from schemas.check import ConfigError

ENTRY = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{6,32}$")
THUMBNAIL = "thumb.png"
THUMBNAIL_SIZE = 128
STALE_STAGING_S = 3600  # a staging folder this old belongs to a worker that died


class History:
    def __init__(self, run: str | Path):
        self.root = Path(run) / "studio"

    @staticmethod
    def entry_for(spec) -> str:
        """The entry of a job: its creation time and its id (studio/spec.py)."""
        return f"{spec.created}-{spec.id}"

    def folder(self, entry: str) -> Path:
        """<run>/studio/<entry>, for a well-formed entry name only."""
        if not isinstance(entry, str) or not ENTRY.match(entry):
            raise ConfigError(f"history entry {entry!r} is not a studio entry name (like 20261123-141503-000000-a1b2c3)")
        return self.root / entry

    def exists(self, entry: str) -> bool:
        return (self.folder(entry) / "result.json").is_file()

    @contextlib.contextmanager
    def staging(self, entry: str):
        """A hidden folder to write the entry's files into; on success it is renamed to the entry, whole. If the
        entry appeared meanwhile (another worker finished the same job), that one is kept and this one dropped."""
        final = self.folder(entry)
        staged = self.root / f".staging-{entry}-{os.getpid()}"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        try:
            yield staged
            try:
                os.rename(staged, final)
            except OSError:  # the entry exists already: one entry per job
                if not self.exists(entry):
                    raise
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def save(self, folder: Path, entry: str, images, params: dict) -> Path:
        """images: (N, C, H, W) uint8 or a list of (C, H, W); params: JSON-able; written into `folder` (the entry's
        staging folder), with a thumbnail of the first image for the History tab: enlarged with square pixels to
        THUMBNAIL_SIZE, so the browser does not blur a 32-pixel image across a tile."""
        first = to_pil(images[0]).convert("RGB")
        scale = max(1, THUMBNAIL_SIZE // max(first.size))
        thumbnail = first.resize((first.width * scale, first.height * scale), Image.Resampling.NEAREST)
        thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        png = io.BytesIO()
        thumbnail.save(png, format="PNG")
        write_atomic(folder / THUMBNAIL, png.getvalue())
        return save_results(folder, images, {"entry": entry, **params})

    def entries(self) -> list[str]:
        """Finished entries (with a result.json), newest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if ENTRY.match(p.name) and (p / "result.json").is_file()]
        return sorted(found, reverse=True)

    def params(self, entry: str) -> dict:
        """The entry's result.json; a missing or damaged one is a one-line ConfigError."""
        path = self.folder(entry) / "result.json"
        if not path.is_file():
            raise ConfigError(f"history entry {entry} has no result.json in {self.root}")
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ConfigError(f"history entry {entry}: result.json cannot be read ({type(error).__name__})") from None

    def images(self, entry: str) -> list[Path]:
        return sorted(self.folder(entry).glob("[0-9][0-9][0-9].png"))

    def thumbnail(self, entry: str) -> Path | None:
        """The entry's thumbnail, or its first image for entries written before thumbnails."""
        path = self.folder(entry) / THUMBNAIL
        return path if path.is_file() else next(iter(self.images(entry)), None)

    def file(self, entry: str, name: str) -> Path:
        """A file of an entry by bare name (no folders), resolved inside the studio folder."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"file name {name!r} must be a bare name inside the entry")
        path = (self.folder(entry) / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ConfigError(f"{name!r} is outside {self.root}")
        return path

    def remove_stale_staging(self, older_than_s: float = STALE_STAGING_S) -> None:
        """Delete staging folders left by workers killed mid-job."""
        if self.root.is_dir():
            for staged in self.root.glob(".staging-*"):
                if time.time() - staged.stat().st_mtime > older_than_s:
                    shutil.rmtree(staged, ignore_errors=True)

