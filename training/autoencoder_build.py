"""Building an autoencoder run (train_autoencoder.py) from its config: data, network, optimisation state.

The optimisation state is the diffusion run's (AdamW, warm-up + cosine LR, EMA, grad scaler), so
checkpoints, resume and the loop's bookkeeping are the same code for both entry points.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from data.captioned import CaptionedImages
from schemas.check import ConfigError, check_config
from schemas.instantiate import instantiate_or_explain
from schemas.relations import validate_training
from training.batches import derived_seed, stream_indices
from training.ema import EMA
from training.lr_schedule import build_lr_scheduler

# Config sections that must match for a checkpoint to belong to an autoencoder run (see training/resume.py).
AUTOENCODER_KEYS = ("autoencoder", "data.dataset")
LOSS_TERMS = ("loss", "l1", "l2", "kl")


@dataclass
class AutoencoderParts:
    data: CaptionedImages
    model: torch.nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    images: torch.Tensor  # (N, C, H, W) uint8, on the training device

    def state(self) -> dict:
        """The objects a checkpoint saves and restores (the same names as a diffusion run's)."""
        return dict(model=self.model, ema=self.ema, optimizer=self.optimizer, lr_scheduler=self.lr_scheduler, scaler=self.scaler)

    def derived(self) -> dict:
        """Constructor arguments that come from the data, saved so the network rebuilds without it."""
        return {"in_channels": self.data.channels, "image_size": self.data.image_size}

    def micro_batch(self, cfg, position: int, step: int, rank: int, world_size: int, micro: int) -> torch.Tensor:
        """(b, C, H, W) float in [-1, 1]: this rank's micro-batch of the global batch starting at `position`,
        and the global RNG seeded for its posterior samples. A pure function of its arguments, so a resumed
        run replays what an uninterrupted one would have seen."""
        size = cfg.batch_size // (world_size * cfg.grad_accum)
        offset = (rank * cfg.grad_accum + micro) * size
        index = stream_indices(len(self.images), cfg.seed, position + offset, size).to(self.images.device)
        torch.manual_seed(derived_seed(cfg.seed, step, rank, micro))
        return self.images[index].float() / 127.5 - 1.0


def validate_autoencoder_config(cfg, world_size: int = 1) -> None:
    """train_autoencoder.yaml against its schema (schemas/autoencoder.py), the relations between its keys,
    and the network built on the meta device. Raises ConfigError."""
    check_config(cfg)
    if cfg.loss.l1_weight == 0 and cfg.loss.l2_weight == 0:
        raise ConfigError("loss.l1_weight and loss.l2_weight are both 0: nothing would train the reconstruction")
    validate_training(cfg, world_size)
    dataset = cfg.data.dataset
    if dataset.get("image_size") is not None:
        with torch.device("meta"):
            instantiate_or_explain(cfg.autoencoder, "autoencoder", in_channels=dataset.get("channels", 3),
                                   image_size=dataset.image_size)



def build_autoencoder(cfg: DictConfig, device: torch.device) -> AutoencoderParts:
    data = instantiate_or_explain(cfg.data.dataset, "data", cache_dir=cfg.cache_dir)
    model = instantiate_or_explain(cfg.autoencoder, "autoencoder", in_channels=data.channels,
                                   image_size=data.image_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return AutoencoderParts(
        data, model, EMA(model, cfg.ema_decay, cfg.ema_warmup), optimizer,
        build_lr_scheduler(optimizer, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio),
        torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16"), data.images.to(device))
