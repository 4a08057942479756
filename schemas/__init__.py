"""Typed schemas for every config: Hydra structured configs, one dataclass per config file kind.

Each YAML file names its schema first in its defaults list, so OmegaConf enforces the types while Hydra
composes and the YAML only supplies values:

    # configs/model/unet.yaml
    defaults:
      - /schema/model/unet@_here_     # SCHEMAS["model/unet"]
      - _self_

Ranges and choices sit next to the types (schemas/fields.py) and are checked after composition
(schemas/check.py); `schemas.command_line` does both from a script's command line before any work.
A new config group gets: a dataclass here (schemas/<group>.py), one line in SCHEMAS, and the two
defaults lines in its YAML files.
"""
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from schemas.autoencoder import AutoencoderConfig, AutoencoderTrainConfig
from schemas.data import ComposeData, DigitsData, FashionData, HubData, ImageFolderData, ShapesData
from schemas.distill import DistillTrainConfig
from schemas.first_stage import AutoencoderStage, PixelStage
from schemas.model import UNetConfig
from schemas.sampler import ConsistencyConfig, DDIMConfig, DDPMConfig, DPMSolverConfig
from schemas.schedule import ScheduleConfig
from schemas.scripts import EditConfig, EvaluateAutoencoderConfig, EvaluateConfig, EvaluateEditsConfig, SampleConfig
from schemas.studio import StudioConfig, StudioWorkerConfig
from schemas.text_encoder import HubTextEncoderConfig, TextEncoderConfig
from schemas.train import TrainConfig

# "<group>/<name>": stored as schema/<group>/<name> in Hydra's ConfigStore, apart from the config groups
# (a stored `sampler/...` would make `sampler=` a group override in configs/scripts too).
SCHEMAS = {
    "train": TrainConfig,                      # configs/train.yaml
    "model/unet": UNetConfig,
    "schedule/any": ScheduleConfig,            # every schedule
    "text_encoder/bundled": TextEncoderConfig, # minilm
    "text_encoder/hub": HubTextEncoderConfig,  # distilbert, clip
    "data/shapes": ShapesData,
    "data/digits": DigitsData,
    "data/hub": HubData,
    "data/imagefolder": ImageFolderData,
    "data/compose": ComposeData,
    "data/fashion": FashionData,
    "first_stage/pixel": PixelStage,
    "first_stage/autoencoder": AutoencoderStage,
    "autoencoder/kl": AutoencoderConfig,       # every configs/autoencoder/ file
    "train_autoencoder": AutoencoderTrainConfig,  # configs/train_autoencoder.yaml
    "train_distill": DistillTrainConfig,       # configs/train_distill.yaml
    "sampler/ddim": DDIMConfig,
    "sampler/ddpm": DDPMConfig,
    "sampler/dpm_solver_pp_2m": DPMSolverConfig,
    "sampler/consistency": ConsistencyConfig,
    "scripts/sample": SampleConfig,            # configs/scripts/sample.yaml
    "scripts/evaluate": EvaluateConfig,        # configs/scripts/evaluate.yaml
    "scripts/edit": EditConfig,
    "scripts/evaluate_edits": EvaluateEditsConfig,
    "scripts/evaluate_autoencoder": EvaluateAutoencoderConfig,
    "scripts/studio": StudioConfig,            # configs/scripts/studio.yaml
    "scripts/studio_worker": StudioWorkerConfig,
}


def register() -> None:
    """Put every schema in Hydra's ConfigStore (done on import: before any config is composed)."""
    store = ConfigStore.instance()
    for path, node in SCHEMAS.items():
        group, _, name = f"schema/{path}".rpartition("/")
        store.store(group=group, name=name, node=node)


def load_group_file(path: Path) -> DictConfig:
    """One group file (e.g. configs/sampler/ddpm.yaml) on its schema, outside a Hydra composition."""
    raw = OmegaConf.load(path)
    schema = SCHEMAS[raw.defaults[0].removeprefix("/schema/").removesuffix("@_here_")]
    return OmegaConf.merge(OmegaConf.structured(schema), {k: v for k, v in raw.items() if k != "defaults"})


register()
