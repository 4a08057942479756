"""Checkpoints: safe to write while being killed, safe to read from strangers, found by step.

A checkpoint is a folder `checkpoints/step_XXXXXXXX/` holding
    model.safetensors   the network's weights            (safetensors: tensors only, no code)
    ema.safetensors     the EMA weights
    state.pt            optimizer, LR schedule, grad scaler, step, data position, RNG states:
                        tensors, numbers, strings, lists and dicts only, read with weights_only=True
    config.yaml         the resolved config of the run
It is written into a hidden temporary folder, flushed to disk, then renamed into place: rename is
atomic, so a process killed mid-write leaves only a `.tmp_*` folder and the previous checkpoint intact.
A crafted pickle cannot run code on load: `torch.load(weights_only=True)` refuses anything but plain data.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from schemas.check import ConfigError

_STEP = re.compile(r"^step_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupted or unsafe; the message names the file."""


def checkpoint_dirs(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found)]


def find_checkpoint(run: str | os.PathLike, checkpoint: str | None = None) -> Path:
    """The run's newest checkpoint, or the named one (a step number or a folder name)."""
    run = Path(run)
    if not run.is_dir():
        raise ConfigError(f"run={run}: no such run folder")
    found = checkpoint_dirs(run)
    if not found:
        raise ConfigError(f"run={run}: no checkpoint in {run}/checkpoints/ (training saves every ckpt_every steps)")
    if checkpoint is None:
        return found[-1]
    wanted = f"step_{int(checkpoint):08d}" if str(checkpoint).isdigit() else str(checkpoint)
    for path in found:
        if path.name == wanted:
            return path
    raise ConfigError(f"checkpoint={checkpoint} not in {run}; valid choices: {', '.join(p.name for p in found)}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir, step: int, model_state: dict, ema_state: dict, state: dict, config_yaml: str, keep: int) -> Path:
    """Write checkpoint `step` atomically, then delete all but the newest `keep`. Returns its folder."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:08d}"
    if final.exists():
        return final
    tmp = root / f".tmp_step_{step:08d}_{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, tmp / "model.safetensors")
    save_file({k: v.detach().cpu().contiguous() for k, v in ema_state.items()}, tmp / "ema.safetensors")
    torch.save(state, tmp / "state.pt")
    (tmp / "config.yaml").write_text(config_yaml)
    for f in tmp.iterdir():
        with open(f, "rb+") as handle:
            os.fsync(handle.fileno())
    os.rename(tmp, final)
    _fsync_dir(root)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_partial_checkpoints(run_dir) -> None:
    """Delete temporary folders left by a process killed while saving."""
    root = Path(run_dir) / "checkpoints"
    for tmp in root.glob(".tmp_step_*") if root.is_dir() else []:
        shutil.rmtree(tmp, ignore_errors=True)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A safetensors file as a state dict; a missing or damaged file is a CheckpointError naming it."""
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint file {path}: {_one_line(error)}") from None


def load_network(module: torch.nn.Module, path: str | os.PathLike) -> None:
    """Weights from a safetensors file into a module; a shape or key mismatch is a CheckpointError."""
    try:
        module.load_state_dict(load_weights(path))
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint file {path} does not fit this model: {str(error).splitlines()[0]} "
                              f"{str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else ''}") from None


def load_config(checkpoint: str | os.PathLike) -> DictConfig:
    """A checkpoint's config.yaml; a missing or unreadable one is a CheckpointError naming it."""
    path = Path(checkpoint) / "config.yaml"
    try:
        return OmegaConf.load(path)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint file {path}: {_one_line(error)}") from None


def load_state(path: str | os.PathLike) -> dict:
    """state.pt read with weights_only=True: plain data only, never arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"cannot read checkpoint file {path}: it does not exist") from None
    except Exception as error:  # UnpicklingError (unsafe or corrupt), EOFError/RuntimeError (truncated)
        raise CheckpointError(f"cannot read checkpoint file {path}: {_one_line(error)}") from None


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
