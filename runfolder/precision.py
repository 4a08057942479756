"""What `precision: auto` resolves to: bf16 where this machine runs the network faster in it, else fp32.

- A CUDA GPU with bf16: bf16.
- A CPU without bf16 instructions (AVX512-BF16 or AMX), e.g. AMD Zen 3: fp32. oneDNN emulates bf16 there, and a
  training step measured 12x slower than in fp32.
- A CPU with them: measured. Having the instructions does not make bf16 faster: scripts/benchmark_unet.py's
  training step took 398 ms in bf16 against 603 ms in fp32 on an AMD Zen 4, but 609 against 434 ms on an Intel
  Xeon (family 6 model 207, avx512_bf16, no AMX exposed), whose bf16 matrix products ran at half its fp32 rate
  (notes/2026-12-01-time-to-quality.md sections 1, 17 and 18). So the network's own step is timed in both, and
  bf16 is taken only where it is at least `BF16_MARGIN` faster: fp32 is the more exact of two near equals.

A measured answer is kept in `<cache_dir>/precision.json` under a key naming the CPU, torch, the thread count and
the network with its input shapes, so the next run of the same network on the same machine (and a resume) picks
the same precision without timing again.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

BF16_MARGIN = 1.10
CACHE_FILE = "precision.json"


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs in hardware here: a CUDA GPU that supports it, or a CPU with AVX512-BF16 or
    AMX. Elsewhere (AVX2-only CPUs) oneDNN emulates bf16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return False


def resolve_precision(precision: str, device: torch.device, measure: Callable[[str], None] | None = None,
                      cache_dir: str | Path | None = None, signature: str = "") -> str:
    """auto -> fp32 or bf16 as the module docstring says; other values are returned as given.

    measure(precision) runs one step of the workload (e.g. forward + backward of the network) under that
    precision. Without it, a CPU with bf16 instructions gets bf16 unmeasured. `signature` names the workload
    in the cache key (the caller's network and input shapes)."""
    if precision != "auto":
        return precision
    if measure is not None and needs_measuring(precision, device):
        return measured_choice(measure, cache_dir, signature)["precision"]
    return "bf16" if native_bf16(device) else "fp32"


def needs_measuring(precision: str, device: torch.device) -> bool:
    """Whether auto can only be answered by timing: a CPU with bf16 instructions."""
    return precision == "auto" and device.type == "cpu" and native_bf16(device)


def measured_choice(measure: Callable[[str], None], cache_dir: str | Path | None, signature: str) -> dict:
    """{"precision", "fp32_ms", "bf16_ms", "cached"}: the cached answer for this machine and workload, or a new
    measurement (then cached)."""
    key = cache_key(signature)
    path = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    known = _read(path)
    if key in known:
        return {**known[key], "cached": True}
    ms = time_precisions(measure)
    choice = {"precision": "bf16" if ms["fp32"] >= BF16_MARGIN * ms["bf16"] else "fp32",
              "fp32_ms": round(ms["fp32"], 1), "bf16_ms": round(ms["bf16"], 1)}
    if path is not None:
        _write(path, {**_read(path), key: choice})
    return {**choice, "cached": False}


def time_precisions(measure: Callable[[str], None], repeats: int = 3) -> dict[str, float]:
    """Median milliseconds of measure(p) for p in fp32 and bf16, after one warm-up each, the two alternating
    so that a slow spell of a shared machine hits both alike. The global RNG is left as it was."""
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with torch.random.fork_rng(devices=[]):
        for precision in times:
            measure(precision)
        for _ in range(repeats):
            for precision, seconds in times.items():
                start = time.perf_counter()
                measure(precision)
                seconds.append(time.perf_counter() - start)
    return {precision: 1000 * statistics.median(seconds) for precision, seconds in times.items()}


def cache_key(signature: str) -> str:
    """The CPU's name and model numbers, torch's version, the thread count and the workload's signature, hashed."""
    text = "|".join([_cpu_name(), torch.__version__, str(torch.get_num_threads()), signature])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cpu_name() -> str:
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("vendor_id", "cpu family", "model", "model name", "flags"):
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    return "/".join(fields.get(k, "") for k in ("vendor_id", "cpu family", "model", "model name", "flags"))


def _read(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a damaged cache is only a lost measurement


def _write(path: Path, table: dict) -> None:
    """Atomically: a concurrent reader sees the old table or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
    os.replace(tmp, path)
