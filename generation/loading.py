"""Rebuilding a trained model from a run folder, for sampling and evaluation.

The run's checkpoint holds its resolved config, including the values derived at training time
(in_channels, image_size, context_dim), so the network and text encoder are rebuilt without loading
the dataset, then the EMA (default) or raw weights are loaded from safetensors.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from diffusion.schedules import Schedule
from generation.first_stage import PixelSpace, load_recorded_first_stage
from generation.sampling import Denoiser, SamplerSettings, autocast
from runfolder.checkpoint import CheckpointError, checkpoint_dirs, find_checkpoint, load_config, load_network
from runfolder.device import check_precision, select_device
from runfolder.embedding_cache import EmbeddingCache
from runfolder.precision import resolve_precision
from schemas import load_group_file
from schemas.check import ConfigError, check_config
from schemas.instantiate import instantiate_or_explain
from schemas.relations import validate_sampler
from schemas.train import WEIGHTS

SAMPLER_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sampler"


@dataclass
class LoadedRun:
    cfg: DictConfig
    model: torch.nn.Module
    schedule: Schedule
    cache: EmbeddingCache
    checkpoint: Path
    step: int
    first_stage: object = field(default_factory=PixelSpace)  # encode/decode between pixels and what the model diffuses

    @property
    def shape(self) -> tuple[int, int]:
        """(channels, size) the model diffuses at: noise for sampling has this shape."""
        return self.cfg.derived.in_channels, self.cfg.derived.image_size

    @property
    def image_shape(self) -> tuple[int, int]:
        """(channels, size) of its images: the same as shape in pixel space."""
        return self.first_stage.pixel_shape(*self.shape)

    def denoiser(self, precision: str = "fp32") -> Denoiser:
        device = next(self.model.parameters()).device
        return Denoiser(self.model, self.schedule, self.cfg.prediction_type, self.cache, self.shape, device, precision,
                        self.first_stage)


def load_run(run: str | Path, checkpoint: str | None = None, weights: str = "ema", device: str | torch.device = "cpu") -> LoadedRun:
    if weights not in WEIGHTS:
        raise ConfigError(f"unknown weights {weights!r}; valid choices: {', '.join(WEIGHTS)}")
    path = find_checkpoint(run, checkpoint)
    cfg = load_config(path)
    encoder = instantiate_or_explain(cfg.text_encoder, "text_encoder").to(device)
    if encoder.dim != cfg.derived.context_dim:
        raise CheckpointError(f"{path}: trained with a {cfg.derived.context_dim}-d text encoder, but {cfg.text_encoder._target_} "
                              f"gives {encoder.dim}-d embeddings")
    first_stage = load_recorded_first_stage(cfg, Path(run), device)
    model = instantiate(cfg.model, **{k: v for k, v in cfg.derived.items() if k != "first_stage"})
    load_network(model, path / f"{weights}.safetensors")
    step = int(path.name.split("_")[-1])
    return LoadedRun(cfg, model.to(device).eval(), instantiate(cfg.schedule), EmbeddingCache(encoder, cfg.cache_dir).to(device),
                     path, step, first_stage)


# Sampler keys a run keeps when another sampler is named: how it conditions, not how it solves.
RUN_CONDITIONING = ("guidance_scale", "guidance_rescale", "guidance_interval", "binding", "binding_steps",
                    "binding_step_size")


def sampler_settings(run_cfg: DictConfig, num_timesteps: int, **overrides) -> SamplerSettings:
    """The run's sampler config with the given overrides (None = keep). Naming another sampler starts
    from that sampler's own config file, so its options (eta, variance, steps) come along, but the run's
    guidance and binding stay: they say how to condition, not how to solve."""
    base = run_cfg.sampler
    name = overrides.get("sampler")
    if name is not None and name != base.name:
        path = SAMPLER_CONFIGS / f"{name}.yaml"
        if not path.is_file():
            choices = sorted(p.stem for p in SAMPLER_CONFIGS.glob("*.yaml"))
            raise ConfigError(f"unknown sampler {name!r}; valid choices: {', '.join(choices)}")
        base = OmegaConf.merge(load_group_file(path), {k: base[k] for k in RUN_CONDITIONING if k in base})
    merged = OmegaConf.merge(base, {k: v for k, v in overrides.items() if v is not None and k != "sampler"})
    validate_sampler(merged, num_timesteps)
    return SamplerSettings(**OmegaConf.to_container(merged))


def load_for_sampling(cfg: DictConfig) -> tuple[LoadedRun, SamplerSettings, torch.device]:
    """What scripts/sample.py and scripts/evaluate.py share: the device, the run's model, and the run's
    sampler settings with the command line's overrides. `cfg.precision` auto is resolved in place."""
    device = select_device(cfg.device)
    check_precision(cfg.precision, device)
    run = load_run(cfg.run, cfg.checkpoint, cfg.weights, device)
    settings = sampler_settings(run.cfg, run.schedule.num_timesteps, sampler=cfg.sampler, num_steps=cfg.num_steps,
                                guidance_scale=cfg.guidance_scale, guidance_rescale=cfg.guidance_rescale,
                                guidance_interval=cfg.guidance_interval, binding=cfg.get("binding"),
                                binding_steps=cfg.get("binding_steps"), binding_step_size=cfg.get("binding_step_size"))
    cfg.precision = sampling_precision(cfg.precision, run, settings, cfg.get("batch_size", 64))
    return run, settings, device


def sampling_precision(precision: str, run: LoadedRun, settings: SamplerSettings, batch_size: int) -> str:
    """`precision` with auto resolved for sampling from `run` (runfolder/precision.py): where the CPU has bf16
    instructions, one sampler step (the guided network call on a batch) is timed in fp32 and in bf16, or the
    answer is read from the run's cache_dir."""
    denoiser = run.denoiser()
    (channels, size), batch = run.shape, max(1, min(batch_size, 64))
    x = torch.randn(batch, channels, size, size, device=denoiser.device,
                    generator=torch.Generator(device=denoiser.device).manual_seed(0))
    t = torch.full((batch,), run.schedule.num_timesteps // 2, device=denoiser.device)

    def measure(p: str) -> None:
        with torch.no_grad(), autocast(denoiser.device, p):
            denoiser.model_fn([""] * batch, settings)(x, t)

    return resolve_precision(precision, denoiser.device, measure, run.cfg.cache_dir,
                             f"{run.model!r}|{run.shape}|sampling {batch}")


def run_or_exit(function, cfg: DictConfig):
    """Check the config against its schema and call a script's body; a user error becomes one line on
    stderr and exit status 2."""
    try:
        check_config(cfg)
        return function(cfg)
    except (ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
