"""Runs train.py's `train` in-process on a tiny config, for the integration tests."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

import train as train_script

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model.base_channels=16", "model.channel_mults=[1,2]", "model.attention_resolutions=[4]",
    "model.norm_groups=8", "model.attention_head_dim=16", "data.dataset.num_images=64", "data.dataset.image_size=8",
    "data.preview_prompts=[a small red circle in the top left,a large blue square]", "schedule.num_timesteps=50",
    "sampler.num_steps=2", "batch_size=8", "max_steps=6", "warmup_steps=2", "log_every=2", "sample_every=0",
    "ckpt_every=3", "precision=fp32",
]


def compose_train(overrides: list[str], cache_dir: Path, base: list[str] = TINY, config: str = "train"):
    """The composed config, registered as the current Hydra config (whose node it then leaves out)."""
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config, overrides=[*base, f"cache_dir={cache_dir}", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).resolve())
    Path(cfg.hydra.runtime.output_dir).mkdir(parents=True, exist_ok=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the task sees its config without the hydra node
    return cfg


def run_train(overrides: list[str], cache_dir: Path, base: list[str] = TINY) -> Path:
    """Train in the current working directory; returns the run folder."""
    cfg = compose_train(overrides, cache_dir, base)
    train_script.train(cfg)
    return Path(HydraConfig.get().runtime.output_dir)
