"""Checks on a composed config, run before any work: a typo costs a second, not a run.

Every failure is a ConfigError whose one-line message names the key, the bad value and the valid
choices. Group choices (schedule=cosin) and resume folders are checked on the command line by
`preflight`, before Hydra acts on them.
"""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from diffusion.forward import PREDICTION_TYPES
from evaluation.runner import EVALUATORS
from diffusion.samplers import SAMPLERS
from diffusion.timesteps import sampling_timesteps

PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A bad config value; the message is one line naming the key and the valid choices."""


def _positive(cfg, *keys, integer=False):
    for key in keys:
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (integer and int(value) != value):
            kind = "a positive integer" if integer else "positive"
            raise ConfigError(f"{key} must be {kind}, got {value!r}")


def _choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {key} {value!r}; valid choices: {', '.join(map(str, choices))}")


def validate_training(cfg, world_size: int = 1) -> None:
    """Scalar keys of train.yaml."""
    _positive(cfg, "lr")
    _positive(cfg, "max_steps", "batch_size", "grad_accum", "log_every", "keep_checkpoints", "max_bad_steps", integer=True)
    for key in ("sample_every", "ckpt_every", "eval_every", "warmup_steps"):
        if not isinstance(cfg[key], int) or cfg[key] < 0:
            raise ConfigError(f"{key} must be a non-negative integer (0 = never), got {cfg[key]!r}")
    if not 0.0 <= cfg.p_uncond <= 1.0:
        raise ConfigError(f"p_uncond must be in [0, 1], got {cfg.p_uncond}")
    for key in ("grad_clip", "weight_decay"):
        if cfg[key] < 0:
            raise ConfigError(f"{key} must be >= 0 (0 = off), got {cfg[key]}")
    if not 0.0 <= cfg.min_lr_ratio <= 1.0:
        raise ConfigError(f"min_lr_ratio must be in [0, 1], got {cfg.min_lr_ratio}")
    _positive(cfg, "eval_samples", integer=True)
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ConfigError(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    _choice("precision", cfg.precision, PRECISIONS)
    _choice("prediction_type", cfg.prediction_type, PREDICTION_TYPES)
    if cfg.min_snr_gamma is not None and cfg.min_snr_gamma <= 0:
        raise ConfigError(f"min_snr_gamma must be positive or null, got {cfg.min_snr_gamma}")
    per_step = world_size * cfg.grad_accum
    if cfg.batch_size % per_step:
        raise ConfigError(f"batch_size={cfg.batch_size} must be divisible by world_size x grad_accum = {per_step}")


def validate_sampler(sampler_cfg, num_timesteps: int) -> None:
    _choice("sampler", sampler_cfg.name, list(SAMPLERS))
    if sampler_cfg.num_steps is not None:
        try:
            sampling_timesteps(num_timesteps, sampler_cfg.num_steps, sampler_cfg.spacing)
        except ValueError as error:
            raise ConfigError(f"sampler: {error}") from None
    if sampler_cfg.guidance_scale < 0:
        raise ConfigError(f"guidance_scale must be >= 0, got {sampler_cfg.guidance_scale}")
    if not 0.0 <= sampler_cfg.guidance_rescale <= 1.0:
        raise ConfigError(f"guidance_rescale must be in [0, 1], got {sampler_cfg.guidance_rescale}")


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
    validate_training(cfg, world_size)
    if cfg.data.get("evaluator") not in (None, *EVALUATORS):
        raise ConfigError(f"unknown data.evaluator {cfg.data.evaluator!r}; valid choices: null, {', '.join(EVALUATORS)}")
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


def preflight(argv: list[str], config_dir: Path) -> None:
    """Checks on the command line that must come before Hydra acts on it: config-group choices (Hydra's
    own message spans a dozen lines) and a resume folder (Hydra would create a missing one as the run
    folder). Raises ConfigError."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if not sep or "." in key:
            continue
        if key == "resume" and value not in ("", "null", "auto"):
            from training.checkpoint import checkpoint_dirs

            if not checkpoint_dirs(value):
                raise ConfigError(f"resume={value}: no checkpoint in {value}/checkpoints/ -- not a run folder, or it never saved")
        group = config_dir / key
        if group.is_dir():
            choices = sorted(p.stem for p in group.glob("*.yaml"))
            for choice in value.split(","):
                if choice not in choices:
                    raise ConfigError(f"unknown {key} {choice!r}; valid choices: {', '.join(choices)}")
