"""A built `datasets.Dataset` saved under `cache_dir` once and memory-mapped back on later calls."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

import datasets


def cached_dataset(cache_dir: str, name: str, build: Callable[[], datasets.Dataset]) -> datasets.Dataset:
    """Load `cache_dir/name`, calling `build()` and saving its result there first if absent.

    Saved to a temporary sibling folder and renamed into place, so a crash or a concurrent caller
    never leaves a half-written folder that a later call would take for a finished cache.
    """
    path = os.path.join(cache_dir, name)
    if not os.path.isdir(path):
        os.makedirs(cache_dir, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir)
        build().save_to_disk(tmp)
        try:
            os.rename(tmp, path)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(path)
