"""Generated datasets cached on disk as `datasets` folders named by a hash of everything they depend on."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import Callable

import datasets


def cache_name(prefix: str, readable: str, params) -> str:
    """`<prefix>_<readable>_<sha1 of params>`: the main parameters readable, all of them in the hash."""
    digest = hashlib.sha1(json.dumps(params).encode()).hexdigest()[:10]
    return f"{prefix}_{readable}_{digest}"


def load_or_generate(cache_dir: str | None, name: str, generate: Callable[[], datasets.Dataset]) -> datasets.Dataset:
    """`generate()`, or the copy saved under cache_dir/name by an earlier call.

    The cache is written to a temporary folder and renamed into place, so an interrupted or concurrent
    run never leaves a half-written folder that a later call would trust.
    """
    if cache_dir is None:
        return generate()
    path = os.path.join(cache_dir, name)
    if os.path.isdir(path):
        return datasets.load_from_disk(path)
    dataset = generate()
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_", dir=cache_dir)
    dataset.save_to_disk(tmp)
    try:
        os.rename(tmp, path)
    except OSError:  # another process finished the same folder first; theirs is identical
        shutil.rmtree(tmp)
    return dataset
