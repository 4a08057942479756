"""torch.compile for training: the whole network, or each repeated block ("regional" compilation).

Compiling the whole U-Net traces one large graph (about 90 s on 2 CPU cores, eager 2 500 steps take 11
minutes). Regional compilation compiles each ResBlock + attention layer in place instead: Dynamo traces
the block's code once per distinct input signature, so the U-Net's many blocks share a handful of
graphs, and the loop between them stays eager. Inductor's compiled kernels (FX graph cache) and
AOTAutograd's graphs are cached on disk under `<cache_dir>/inductor`, so a second run of the same
config reuses them and compiles in a fraction of the first run's time (notes/2026-11-23-time-to-quality.md).

Compiled numerics differ from eager in the last bits (fused kernels round differently), so a compiled
run is reproducible from a given compiled run but not bitwise equal to an eager one; resume is bitwise
only in eager mode (compile: none).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from schemas.train import COMPILE_MODES


def enable_compile_cache(cache_dir: str | os.PathLike) -> Path:
    """Point Inductor's on-disk caches at <cache_dir>/inductor (read when it first compiles)."""
    path = Path(cache_dir).resolve() / "inductor"
    path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(path))
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def compile_network(model: nn.Module, mode: str) -> nn.Module:
    """Return the module to call in training. mode none: `model` itself; model: torch.compile(model);
    blocks: each of `model.layers()` compiled in place (same parameters, same state-dict keys)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; valid choices: {', '.join(COMPILE_MODES)}")
    if mode == "none":
        return model
    if mode == "model":
        return torch.compile(model)
    blocks = model.layers()
    # Every distinct (channels, resolution, grad mode) signature is one more graph of the same code object.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 4 * len(blocks))
    for block in blocks:
        block.compile(dynamic=False)
    return model
