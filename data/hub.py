"""Any `datasets` dataset with an image column and a caption or class-label column, as `CaptionedImages`.

`load_hub` fetches one from the Hugging Face hub (or a local dataset folder, which `load_dataset`
reads the same way): class-label sets such as mnist, fashion_mnist and cifar10 (image column "img")
are captioned by filling templates with the class name, captioned sets use their caption column.
`captioned_from_dataset` does the conversion for an already loaded dataset, and is shared with
`data/imagefolder.py`.

Without network access `datasets` raises pages of chained connection errors; here that becomes one
line, `HubDatasetUnavailable`, naming the dataset and the offline alternatives.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import datasets

from data.captioned import CaptionedImages
from data.preprocess import preprocess_images
from models.text_encoder import hub_reachable


class HubDatasetUnavailable(RuntimeError):
    """The dataset could not be fetched: no network, offline mode, or no such dataset on the hub."""


def load_hub(path: str, name: str | None = None, split: str = "train", image_column: str = "image",
             caption_column: str | None = None, label_column: str | None = "label",
             caption_templates: Sequence[str] = ("a photo of a {label}",), image_size: int = 32,
             channels: int = 3, max_images: int | None = None, cache_dir: str | None = None) -> CaptionedImages:
    """Load split `split` of hub dataset `path` (config `name`) as square `image_size` images.

    Captions come from `caption_column` when given (a string or a list of paraphrases per row),
    otherwise from `label_column` with every template of `caption_templates` filled ("{label}" ->
    the class name). `max_images` keeps the first rows in split order. `cache_dir` is the
    `datasets` download/Arrow cache (default: the library's, ~/.cache/huggingface/datasets).
    Offline, `path` may be a local folder: data files (parquet, ...) as in a hub repo, or the output
    of `Dataset.save_to_disk` / `DatasetDict.save_to_disk`.
    """
    dataset = _load_split(path, name, split, cache_dir)
    return captioned_from_dataset(dataset, image_column, caption_column, label_column, caption_templates,
                                  image_size, channels, max_images)


def _load_split(path: str, name: str | None, split: str, cache_dir: str | None) -> datasets.Dataset:
    """`load_dataset`, or `load_from_disk` for a `save_to_disk` folder (which `load_dataset` refuses)."""
    if os.path.isfile(os.path.join(path, "state.json")):
        return datasets.load_from_disk(path)
    if os.path.isfile(os.path.join(path, "dataset_dict.json")):
        return datasets.load_from_disk(path)[split]
    offline = not os.path.isdir(path) and not hub_reachable()
    try:
        # Unreachable hub: read only the local hub cache, failing in a second instead of ~30 s of retries.
        with _patched(datasets.config, "HF_HUB_OFFLINE", True) if offline else contextlib.nullcontext():
            return datasets.load_dataset(path, name, split=split, cache_dir=cache_dir)
    except (ConnectionError, FileNotFoundError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if offline:
            reason = "the hub is not reachable from this machine and the dataset is not in the local cache"
        raise HubDatasetUnavailable(
            f"could not load dataset '{path}' from the Hugging Face hub ({reason}); offline, pass a local "
            f"dataset folder as path, or use data=imagefolder with a folder of images + metadata.jsonl"
        ) from None


@contextlib.contextmanager
def _patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def captioned_from_dataset(dataset: datasets.Dataset, image_column: str = "image",
                           caption_column: str | None = None, label_column: str | None = "label",
                           caption_templates: Sequence[str] = ("a photo of a {label}",),
                           image_size: int = 32, channels: int = 3,
                           max_images: int | None = None) -> CaptionedImages:
    """Preprocess the images of a loaded dataset and caption them (see `load_hub` for the rules)."""
    require_columns(dataset, [image_column, caption_column or label_column])
    if max_images is not None:
        dataset = dataset.select(range(min(max_images, len(dataset))))
    if caption_column is not None:
        captions = captions_from_column(dataset, caption_column)
    else:
        captions = captions_from_labels(dataset, label_column, caption_templates)
    images = preprocess_images(dataset[image_column], image_size, channels)
    return CaptionedImages(images, captions)


def require_columns(dataset: datasets.Dataset, columns: Sequence[str | None]) -> None:
    """Fail in one line, listing the columns that exist, if a needed column is missing."""
    if None in columns:
        raise ValueError("give caption_column or label_column: captions need one of them")
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(f"column '{column}' not in dataset; its columns are {dataset.column_names}")


def captions_from_column(dataset: datasets.Dataset, column: str) -> list[tuple[str, ...]]:
    """Each row's caption, or list of paraphrases, as a tuple of non-empty strings."""
    captions = []
    for value in dataset[column]:
        texts = [value] if isinstance(value, str) else list(value or [])
        captions.append(tuple(t for t in texts if t and t.strip()))
    return captions


def captions_from_labels(dataset: datasets.Dataset, column: str,
                         templates: Sequence[str]) -> list[tuple[str, ...]]:
    """Fill every template with each row's class name.

    A `ClassLabel` column maps ids to names; other columns are used as strings. Underscores become
    spaces ("aquarium_fish" -> "aquarium fish") so the text encoder sees words.
    """
    if isinstance(templates, str) or not templates or any("{label}" not in t for t in templates):
        raise ValueError(f"caption_templates must be non-empty strings that all contain '{{label}}', got {templates!r}")
    feature = dataset.features[column]
    to_name = feature.int2str if isinstance(feature, datasets.ClassLabel) else str
    names = {}
    captions = []
    for label in dataset[column]:
        if label not in names:
            name = to_name(label).replace("_", " ")
            names[label] = tuple(t.format(label=name) for t in templates)
        captions.append(names[label])
    return captions
