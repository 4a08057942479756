"""Checks on a composed config, run before any work: a typo costs a second, not a run.

Every failure is a ConfigError whose one-line message names the key, the bad value and the valid
choices. Each key's type, range and choices are declared in schemas/ and checked there; what stays here
relates keys to each other or to the machine: batch size vs processes, num_steps vs T, zero terminal SNR
vs eps, the network built on the meta device (image size vs downsampling, widths vs groups), precision
vs device. Group choices, the schemas and resume folders are checked on the command line by `preflight`,
before Hydra acts on it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from diffusion.timesteps import sampling_timesteps
from schemas.check import ConfigError, check_config
from schemas.command_line import check_command_line


def validate_training(cfg, world_size: int = 1) -> None:
    """Relations between train.yaml's keys and the launch (each key's own type and range: schemas/train.py)."""
    per_step = world_size * cfg.grad_accum
    if cfg.batch_size % per_step:
        raise ConfigError(f"batch_size={cfg.batch_size} must be divisible by world_size x grad_accum = {per_step}")


def validate_sampler(sampler_cfg, num_timesteps: int) -> None:
    """num_steps against the schedule's T (each key's own type and range: schemas/sampler.py)."""
    if sampler_cfg.num_steps is not None:
        try:
            sampling_timesteps(num_timesteps, sampler_cfg.num_steps, sampler_cfg.spacing)
        except ValueError as error:
            raise ConfigError(f"sampler: {error}") from None


def validate_schedule(cfg):
    """Build the schedule (cheap) and check it suits the prediction type."""
    try:
        schedule = instantiate(cfg.schedule)
    except Exception as error:
        raise ConfigError(f"schedule: {_cause(error)}") from None
    if schedule.zero_terminal_snr and cfg.prediction_type == "eps":
        raise ConfigError("schedule.zero_terminal_snr=true needs prediction_type v or x0: eps cannot be inverted at zero SNR")
    return schedule


def validate_model(model_cfg, image_size: int, in_channels: int = 3) -> None:
    """Construct the network on the meta device (no memory, no time) to run its own checks."""
    try:
        with torch.device("meta"):
            instantiate(model_cfg, in_channels=in_channels, image_size=image_size, context_dim=8)
    except Exception as error:
        raise ConfigError(f"model: {_cause(error)}") from None


def validate_config(cfg, world_size: int = 1) -> None:
    """The schemas' checks (already run on the command line; again here for configs composed in-process),
    then the relations between keys."""
    check_config(cfg)
    validate_training(cfg, world_size)
    schedule = validate_schedule(cfg)
    validate_sampler(cfg.sampler, schedule.num_timesteps)
    image_size = cfg.data.dataset.get("image_size")
    latent = "run" in (cfg.get("first_stage") or {}).keys()  # the U-Net works at the latents' size: checked when built
    if image_size is not None and not latent:
        validate_model(cfg.model, image_size, cfg.data.dataset.get("channels", 3))


def select_device(name: str) -> torch.device:
    """auto: cuda, then mps, then cpu. A named device that is not there is a ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; valid choices: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} asked for, but CUDA is not available here; use device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={name} asked for, but MPS is not available here; use device=auto or cpu")
    return device


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (GradScaler); bf16 needs a GPU that has it, or the CPU."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision=fp16 needs a CUDA device (device is {device.type}); use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision=bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16 or fp32")
    if precision == "bf16" and device.type == "mps":
        raise ConfigError("precision=bf16 autocast is not supported on mps here; use fp32")


def instantiate_or_explain(node, what: str, **kwargs):
    """hydra's instantiate, with a user error inside the constructor (a missing folder, an unreachable hub,
    a wrong column; Hydra wraps them in InstantiationException) turned into a one-line ConfigError."""
    try:
        return instantiate(node, **kwargs)
    except Exception as error:
        inner = error
        while inner.__cause__ is not None:
            inner = inner.__cause__
        if isinstance(inner, (ValueError, OSError, RuntimeError)):
            raise ConfigError(f"{what}: {_cause(error)}") from None
        raise


def _cause(error: Exception) -> str:
    """The innermost message of an exception (Hydra wraps constructor errors in InstantiationException)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def check_resume_argument(argv: list[str]) -> None:
    """resume=<folder> on the command line must be a run with a checkpoint: Hydra would otherwise create
    the missing folder as this run's folder."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") == "resume" and value not in ("", "null", "auto"):
            from training.checkpoint import checkpoint_dirs

            if not checkpoint_dirs(value):
                raise ConfigError(f"resume={value}: no checkpoint in {value}/checkpoints/ -- not a run folder, or it never saved")


def preflight(argv: list[str], config_dir: Path) -> None:
    """train.py's command line, checked before Hydra acts on it (see schemas/command_line.py): the resume
    folder, then the composed config of every run it asks for against the schemas. Raises ConfigError."""
    check_resume_argument(argv)
    check_command_line(argv, config_dir, "train")
