"""TensorBoard logging from rank 0, the loss tracker that feeds it without a host sync per step, and the
console handler of train.py's text log (configs/hydra/job_logging/train.yaml).

Hyper-parameters go into the run's own event file as the HParams plugin's session-start summary
(`hparams_pb`), with no experiment summary and no sub-run folder (which `SummaryWriter.add_hparams`
would create): TensorBoard's HPARAMS tab then takes every run folder holding one as a trial, the union
of their hyper-parameters as columns, and the last value of each of the run's scalars as its metrics,
so the final `eval/...` scores compare runs directly.
"""
from __future__ import annotations

import json
import logging

import torch
from omegaconf import DictConfig, OmegaConf
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tqdm import tqdm
from torch.utils.tensorboard import SummaryWriter

from training.distributed import Distributed, all_reduce_sum

QUARTILES = 4
# Config keys that say where and how often a run writes, not what it trains: left out of the hparams.
NOT_HPARAMS = ("cache_dir", "resume", "device", "log_every", "sample_every", "ckpt_every", "keep_checkpoints",
               "max_bad_steps", "data.preview_prompts")


def hparams_of(cfg: DictConfig) -> dict[str, bool | int | float | str]:
    """The resolved config flattened to dotted keys ("model.base_channels"), minus NOT_HPARAMS; lists and
    nulls become their JSON text, since the HParams plugin holds only booleans, numbers and strings."""
    flat = {}

    def visit(node, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in NOT_HPARAMS:
                continue
            if isinstance(value, dict):
                visit(value, f"{name}.")
            else:
                flat[name] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)

    visit(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


class LossTracker:
    """Sums per-sample losses by timestep quartile (t < T/4, ..., t >= 3T/4) on the device."""

    def __init__(self, num_timesteps: int, device: torch.device):
        self.num_timesteps = num_timesteps
        self.sums = torch.zeros(QUARTILES, device=device, dtype=torch.float64)
        self.counts = torch.zeros(QUARTILES, device=device, dtype=torch.float64)

    def add(self, losses: torch.Tensor, t: torch.Tensor) -> None:
        bucket = t * QUARTILES // self.num_timesteps
        self.sums.index_add_(0, bucket, losses.detach().double())
        self.counts.index_add_(0, bucket, torch.ones_like(losses, dtype=torch.float64))

    def read_and_reset(self, d: Distributed) -> dict[str, float]:
        """Means over everything added since the last read, averaged over all ranks."""
        totals = all_reduce_sum(torch.stack([self.sums, self.counts]), d).cpu()
        self.sums.zero_()
        self.counts.zero_()
        sums, counts = totals
        out = {"train/loss": (sums.sum() / counts.sum().clamp(min=1)).item()}
        for q in range(QUARTILES):
            if counts[q] > 0:
                out[f"train/loss_t_q{q}"] = (sums[q] / counts[q]).item()
        return out


class TermTracker:
    """Sums named per-sample loss terms on the device (no host sync per step), read as means over ranks."""

    def __init__(self, names: list[str], device: torch.device, prefix: str = "train/"):
        self.names, self.prefix = list(names), prefix
        self.sums = torch.zeros(len(self.names) + 1, device=device, dtype=torch.float64)  # last entry: sample count

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        values = [terms[name].detach().double().sum() for name in self.names]
        self.sums += torch.stack([*values, torch.tensor(float(len(terms[self.names[0]])), device=self.sums.device,
                                                        dtype=torch.float64)])

    def read_and_reset(self, d: Distributed) -> dict[str, float]:
        totals = all_reduce_sum(self.sums.clone(), d).cpu()
        self.sums.zero_()
        count = totals[-1].clamp(min=1)
        return {f"{self.prefix}{name}": (totals[i] / count).item() for i, name in enumerate(self.names)}


class Logger:
    """A SummaryWriter on rank 0; on other ranks every call does nothing."""

    def __init__(self, run_dir: str, d: Distributed, purge_step: int | None = None):
        self.writer = SummaryWriter(log_dir=run_dir, purge_step=purge_step) if d.is_main else None

    @classmethod
    def for_run(cls, run_dir, d: Distributed, cfg: DictConfig, step: int, resumed: bool, hparams: bool = True) -> "Logger":
        """The run's logger: a resumed run drops events past its checkpoint's step; a new one starts with its resolved
        config as text and (hparams) its hyper-parameters for the HPARAMS tab."""
        logger = cls(str(run_dir), d, purge_step=step if resumed else None)
        if step == 0:
            logger.text("config", f"```\n{OmegaConf.to_yaml(cfg, resolve=True)}\n```", 0)
            if hparams:
                logger.hparams(hparams_of(cfg), trial=f"{run_dir.parent.name}/{run_dir.name}")
        return logger

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, hwc, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, hwc, step, dataformats="HWC")

    def hparams(self, values: dict[str, bool | int | float | str], trial: str) -> None:
        """Record the run's hyper-parameters for the HPARAMS tab (see the module docstring)."""
        if self.writer is not None:
            self.writer.file_writer.add_summary(hparams_pb(values, trial_id=trial))

    def text(self, tag: str, text: str, step: int) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class TqdmHandler(logging.Handler):
    """Writes log lines above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record))
        except Exception:  # noqa: BLE001 -- logging must never stop training
            self.handleError(record)
