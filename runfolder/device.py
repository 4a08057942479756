"""Which device a run uses (`device: auto | cpu | cuda | cuda:N | mps`) and which precisions it can run there."""
from __future__ import annotations

import torch

from schemas.check import ConfigError


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
