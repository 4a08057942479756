"""What a run writes besides its training steps: checkpoints, preview grids and evaluations (when: training/loop.py).

Rank 0 writes; afterwards every rank meets at a barrier, so the other ranks wait there (not inside the
next step's gradient all-reduce) for as long as a preview or an evaluation takes.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from evaluation.runner import evaluate, summary, write_results
from generation.sampling import SamplerSettings, make_generate
from training import distributed as ddp
from training.build import Parts
from training.logger import Logger
from training.preview import write_preview
from training.resume import save

log = logging.getLogger("train")


class Outputs:
    def __init__(self, run_dir: Path, cfg: DictConfig, parts: Parts, logger: Logger, settings: SamplerSettings,
                 device: torch.device, dist: ddp.Distributed):
        self.run_dir, self.cfg, self.parts, self.logger = run_dir, cfg, parts, logger
        self.settings, self.device, self.dist = settings, device, dist
        self.eval_every = cfg.eval_every if cfg.data.get("evaluator") else 0  # datasets without an evaluator skip it

    def checkpoint(self, step: int, position: int, skipped: int) -> None:
        ddp.check_in_sync(self.parts.model, self.dist)
        if self.dist.is_main:
            path = save(self.run_dir, step, position, skipped, self.cfg, self.parts.derived(), **self.parts.state())
            log.info(f"checkpoint step {step} -> {path}")
        ddp.barrier(self.dist)

    def preview(self, step: int) -> None:
        if self.dist.is_main:
            p = self.parts
            write_preview(self.run_dir, p.ema.model, p.schedule, p.cache, self.cfg, p.data, self.settings, self.device,
                          step, self.logger, p.shape, p.first_stage)
        ddp.barrier(self.dist)

    def evaluate(self, step: int) -> None:
        if self.dist.is_main:
            p, cfg = self.parts, self.cfg
            generate = make_generate(p.ema.model, p.schedule, cfg.prediction_type, p.cache, self.settings,
                                     p.shape, cfg.seed, self.device, cfg.precision, first_stage=p.first_stage)
            results = evaluate(cfg.data.evaluator, generate, cfg.data.dataset, cfg.cache_dir, cfg.eval_samples)
            numbers = {k: v for k, v in results.items() if isinstance(v, (int, float)) and not k.endswith("count")}
            self.logger.scalars({f"eval/{k}": v for k, v in numbers.items()}, step)
            write_results(self.run_dir, step, results, cfg.eval_samples, self.settings.tag())
            log.info(f"eval step {step}: {summary(results)}")
        ddp.barrier(self.dist)
