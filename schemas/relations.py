"""Checks on a composed config that relate keys to each other or to the launch, run before any work: a typo
costs a second, not a run.

Each key's own type, range and choices are declared in the schemas and checked by schemas/check.py; what is
checked here needs several keys at once: batch size vs processes, num_steps vs T, zero terminal SNR vs eps,
the network built on the meta device (image size vs downsampling, widths vs groups). Every failure is a
ConfigError whose one-line message names the key, the bad value and the valid choices.
"""
from __future__ import annotations

import torch
from hydra.utils import instantiate

from diffusion.timesteps import sampling_timesteps
from schemas.check import ConfigError, check_config
from schemas.instantiate import innermost_message


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
        raise ConfigError(f"schedule: {innermost_message(error)}") from None
    if schedule.zero_terminal_snr and cfg.prediction_type == "eps":
        raise ConfigError("schedule.zero_terminal_snr=true needs prediction_type v or x0: eps cannot be inverted at zero SNR")
    return schedule


def validate_model(model_cfg, image_size: int, in_channels: int = 3) -> None:
    """Construct the network on the meta device (no memory, no time) to run its own checks."""
    try:
        with torch.device("meta"):
            instantiate(model_cfg, in_channels=in_channels, image_size=image_size, context_dim=8)
    except Exception as error:
        raise ConfigError(f"model: {innermost_message(error)}") from None


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
