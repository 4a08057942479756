"""The schemas of configs/data/: one per dataset, since each loader takes other arguments.

A data config is `dataset` (the loader's arguments, `_target_` naming it), `evaluator` (how
scripts/evaluate.py scores samples) and `preview_prompts` (the training preview grid).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from data.preprocess import MODES
from data.shapes import COLOURS, SHAPES
from schemas.fields import at_least, choice, positive, satisfies

EVALUATORS = ("shapes", "digits", "compose", "fashion")  # evaluation/runner.py

CHANNELS = tuple(MODES)


def _colour_shape_pairs(pairs) -> bool:
    return all(len(p) == 2 and p[0] in COLOURS and p[1] in SHAPES for p in pairs)


@dataclass
class ComposeDataset:
    """data.compose.load_compose's arguments; the shapes loader takes them all and one more."""
    _target_: str = MISSING
    num_images: int = positive()
    image_size: int = positive()
    seed: int = at_least(0)
    held_out: List[List[str]] = satisfies(
        _colour_shape_pairs, f"a list of [colour, shape] pairs, colours {'|'.join(COLOURS)}, shapes {'|'.join(SHAPES)}")


@dataclass
class ShapesDataset(ComposeDataset):
    partial_captions: bool = False


@dataclass
class DigitsDataset:
    _target_: str = MISSING
    image_size: int = positive()


@dataclass
class HubDataset:
    _target_: str = MISSING
    path: str = MISSING
    name: Optional[str] = MISSING
    split: str = MISSING
    image_column: str = MISSING
    caption_column: Optional[str] = MISSING
    label_column: Optional[str] = MISSING
    caption_templates: List[str] = MISSING
    image_size: int = positive()
    channels: int = choice(*CHANNELS)
    max_images: Optional[int] = positive()


@dataclass
class ImageFolderDataset:
    _target_: str = MISSING
    data_dir: str = MISSING
    image_size: int = positive()
    channels: int = choice(*CHANNELS)
    caption_column: str = MISSING
    max_images: Optional[int] = positive()


@dataclass
class DataConfig:
    evaluator: Optional[str] = choice(*EVALUATORS)
    preview_prompts: List[str] = MISSING   # empty: the dataset's first captions


@dataclass
class ShapesData(DataConfig):
    dataset: ShapesDataset = MISSING


@dataclass
class DigitsData(DataConfig):
    dataset: DigitsDataset = MISSING


@dataclass
class HubData(DataConfig):
    dataset: HubDataset = MISSING


@dataclass
class ImageFolderData(DataConfig):
    dataset: ImageFolderDataset = MISSING


@dataclass
class ComposeData(DataConfig):
    dataset: ComposeDataset = MISSING       # data.compose.load_compose takes shapes' arguments, all but partial_captions


@dataclass
class FashionDataset:
    _target_: str = MISSING
    root: str = MISSING                     # the folder of the idx files (apt-get install -y dataset-fashion-mnist)
    split: str = choice("train", "test")
    image_size: int = positive()
    num_images: Optional[int] = positive()  # null: the whole split


@dataclass
class FashionData(DataConfig):
    dataset: FashionDataset = MISSING
    preview_per_prompt: int = positive()    # samples per preview prompt, one row each
