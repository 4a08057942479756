"""Saving and restoring the whole training state, and deciding what a run resumes from.

Everything an uninterrupted run carries from one step to the next is saved: weights, EMA weights,
optimizer moments, LR-schedule position, grad-scaler state, the step, the data-stream position and the
RNG states (the per-step randomness is re-derived from the seed, see training/batches.py). Restoring
them makes a resumed run bitwise identical to an uninterrupted one on CPU.
"""
from __future__ import annotations

import inspect
import random
from pathlib import Path

import hydra.errors
import hydra.utils
import numpy as np
import torch
from omegaconf import OmegaConf

from generation.first_stage import check_same_first_stage
from runfolder.checkpoint import checkpoint_dirs, load_config, load_network, load_state, save_checkpoint
from schemas.check import ConfigError

# Config sections that must match for a checkpoint to belong to this run: they define what the weights
# mean. Training keys (batch_size, lr, max_steps, ...) may change on resume; the data stream continues
# from its saved position (changing seed or batch_size makes the continuation differ from an
# uninterrupted run, but it is still a valid continuation).
COMPATIBLE_KEYS = ("model", "schedule", "text_encoder", "data.dataset", "prediction_type", "first_stage.run",
                   "first_stage.weights")


def find_resume_checkpoint(cfg, run_dir: Path, keys=COMPATIBLE_KEYS) -> Path | None:
    """The checkpoint to resume from, or None for a fresh run. Missing or foreign runs (whose config
    differs under `keys`) are ConfigErrors."""
    found = checkpoint_dirs(run_dir)
    if cfg.resume in (None, ""):
        if found:
            raise ConfigError(f"{run_dir} already holds checkpoints; pass resume={run_dir} (or resume=auto) to continue it")
        return None
    if not found:
        if cfg.resume == "auto":
            return None
        raise ConfigError(f"resume={cfg.resume}: no checkpoint in {run_dir}/checkpoints/ -- not a run folder, or it never saved")
    latest = found[-1]
    saved = load_config(latest)
    check_compatible(saved, cfg, f"resume={cfg.resume}", keys)
    check_same_first_stage(saved, cfg)
    return latest


def differing_keys(saved, current, keys=COMPATIBLE_KEYS) -> list[str]:
    """Dotted keys under `keys` whose values differ between two configs."""
    def flat(node, prefix=""):
        if isinstance(node, dict):
            return {k2: v2 for k, v in node.items() for k2, v2 in flat(v, f"{prefix}{k}.").items()}
        return {prefix.rstrip("."): node}
    def sections(cfg):  # each dotted key's value as plain Python (a missing key is None)
        return flat({k: OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(cfg, k)}), resolve=True)["v"]
                     for k in keys})
    a, b = sections(saved), sections(current)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and not _added_at_its_default(saved, current, k))


def _added_at_its_default(saved, current, key: str) -> bool:
    """Whether `key` is a constructor argument added to the code after `saved` was written (so the saved
    config lacks it), and the current config sets it to the constructor's default: the run's network is
    then the one the saved run built, e.g. model.context_refiner_layers=0 for a run from before the refiner."""
    parent, _, name = key.rpartition(".")
    if OmegaConf.select(saved, key, default="<absent>") != "<absent>" or not parent:
        return False
    target = OmegaConf.select(current, f"{parent}._target_")
    if not isinstance(target, str):
        return False
    try:
        default = inspect.signature(hydra.utils.get_object(target)).parameters[name].default
    except (ImportError, KeyError, ValueError, AttributeError, hydra.errors.InstantiationException):
        return False
    return default is not inspect.Parameter.empty and OmegaConf.select(current, key) == default


def check_compatible(saved, current, what: str, keys=COMPATIBLE_KEYS) -> None:
    diff = differing_keys(saved, current, keys)
    if diff:
        shown = ", ".join(f"{k} ({OmegaConf.select(saved, k)} -> {OmegaConf.select(current, k)})" for k in diff[:4])
        raise ConfigError(f"{what} was trained with another config: {shown}{' ...' if len(diff) > 4 else ''} "
                          f"-- pass the same +experiment and overrides as the original run")


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": [np.random.get_state()[0], torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                        *np.random.get_state()[2:]]}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate((states["python"][0], tuple(states["python"][1]), states["python"][2]))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(run_dir, step, position, skipped, cfg, derived, *, model, ema, optimizer, lr_scheduler, scaler) -> Path:
    state = {"step": step, "position": position, "skipped_steps": skipped, "optimizer": optimizer.state_dict(),
             "lr_scheduler": lr_scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_states()}
    config = OmegaConf.to_container(cfg, resolve=True)
    config["derived"] = dict(derived)
    return save_checkpoint(run_dir, step, model.state_dict(), ema.model.state_dict(), state,
                           OmegaConf.to_yaml(config), cfg.keep_checkpoints)


def restore(path: Path, *, model, ema, optimizer, lr_scheduler, scaler) -> tuple[int, int, int]:
    """Load a checkpoint folder into the live objects. Returns (step, data position, skipped steps so far)."""
    load_network(model, path / "model.safetensors")
    load_network(ema.model, path / "ema.safetensors")
    state = load_state(path / "state.pt")
    # The checkpoint brings Adam's moments and the step count; the hyper-parameters (lr, betas, weight decay)
    # are this command line's, so that `lr=` or `adam_beta2=` given on resume take effect.
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    base_lrs = list(lr_scheduler.base_lrs)
    optimizer.load_state_dict(state["optimizer"])
    lr_scheduler.load_state_dict(state["lr_scheduler"])
    lr_scheduler.base_lrs = base_lrs
    for group, setting, base_lr, factor in zip(optimizer.param_groups, settings, base_lrs, lr_scheduler.lr_lambdas):
        group.update(setting, lr=base_lr * factor(lr_scheduler.last_epoch))
    scaler.load_state_dict(state["scaler"])
    set_rng_states(state["rng"])
    return state["step"], state["position"], state.get("skipped_steps", 0)
