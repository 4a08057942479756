"""Building a run's parts from its config: data, cached text embeddings, network, optimisation state."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig, OmegaConf

from data.captioned import CaptionedImages
from diffusion.schedules import Schedule
from generation.first_stage import PixelSpace, build_first_stage
from runfolder.embedding_cache import EmbeddingCache
from schemas.instantiate import instantiate_or_explain
from training import distributed as ddp
from training.batches import BatchStream
from training.ema import EMA
from training.latent_cache import dataset_latents
from training.lr_schedule import build_lr_scheduler
from training.preview import preview_prompts


@dataclass
class Parts:
    """Everything a run builds: data, text embeddings, network, optimisation state, diffusion schedule."""

    data: CaptionedImages
    cache: EmbeddingCache
    model: torch.nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    schedule: Schedule
    stream: BatchStream
    first_stage: object = field(default_factory=PixelSpace)  # generation/first_stage.py: pixels or a VAE's latents

    def state(self) -> dict:
        """The objects a checkpoint saves and restores."""
        return dict(model=self.model, ema=self.ema, optimizer=self.optimizer, lr_scheduler=self.lr_scheduler, scaler=self.scaler)

    @property
    def shape(self) -> tuple[int, int]:
        """(channels, size) of what the U-Net diffuses: the images, or their latents."""
        return self.first_stage.shape(self.data.channels, self.data.image_size)

    def derived(self) -> dict:
        """Config values derived from the data, the encoder and the first stage, saved so a checkpoint
        rebuilds without them."""
        channels, size = self.shape
        return {"in_channels": channels, "image_size": size, "context_dim": self.cache.encoder.dim,
                **self.first_stage.derived()}


def build_data_and_text(cfg: DictConfig, device: torch.device, dist: ddp.Distributed):
    """The dataset and an embedding cache holding every caption it can draw, plus the preview prompts.
    Rank 0 generates and encodes first, so the other ranks read its disk caches instead of racing it."""
    for turn in (0, 1):
        if dist.is_main == (turn == 0):
            data = instantiate_or_explain(cfg.data.dataset, "data", cache_dir=cfg.cache_dir)
            encoder = instantiate_or_explain(cfg.text_encoder, "text_encoder").to(device)
            cache = EmbeddingCache(encoder, cfg.cache_dir)
            cache.add(data.unique_captions() + preview_prompts(cfg, data))
        ddp.barrier(dist)
    return data, cache.to(device)


def build(cfg: DictConfig, device: torch.device, dist: ddp.Distributed) -> Parts:
    data, cache = build_data_and_text(cfg, device, dist)
    first_stage = build_first_stage(cfg.get("first_stage"), device)
    channels, size = first_stage.shape(data.channels, data.image_size)
    model = instantiate_or_explain(cfg.model, "model", in_channels=channels, image_size=size,
                                   context_dim=cache.encoder.dim).to(device)
    # One fused kernel for the whole update instead of a dozen foreach passes over the parameters.
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2),
                                  weight_decay=cfg.weight_decay, fused=True)
    schedule = instantiate_or_explain(cfg.schedule, "schedule")
    return Parts(
        data, cache, model, EMA(model, cfg.ema_decay, cfg.ema_warmup), optimizer,
        build_lr_scheduler(optimizer, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio),
        torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16"), schedule,
        BatchStream(data, cache.index, cache.null_row, cfg.p_uncond, schedule.num_timesteps, cfg.seed, device,
                    OmegaConf.to_container(cfg.timestep_sampling),
                    images=dataset_latents(first_stage, data.images, cfg.cache_dir, device, dist)), first_stage)
