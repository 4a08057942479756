"""Writing a file so that a reader never sees half of it: into a temporary file beside it, flushed, then renamed
over the target (rename is atomic on one file system). A process killed mid-write leaves the old file, or none,
and a hidden `.<name>.<pid>.tmp` that no reader lists."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path
