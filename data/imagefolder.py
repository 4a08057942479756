"""A local folder of images with captions in `metadata.jsonl`, the offline way to bring your own data.

Layout (the `datasets` "imagefolder" format):

    my_images/
        metadata.jsonl      {"file_name": "0001.png", "text": "a red circle"}  one line per image
        0001.png            "text" may also be a list of paraphrases: ["a red circle", "a red disc"]
        ...

Images of any size and mode are centre-cropped, resized and converted like every other loader's.
"""
from __future__ import annotations

import os

import datasets

from data.captioned import CaptionedImages
from data.hub import captioned_from_dataset

METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")


def load_imagefolder(data_dir: str, image_size: int = 32, channels: int = 3, caption_column: str = "text",
                     max_images: int | None = None, cache_dir: str | None = None) -> CaptionedImages:
    """Load every image under `data_dir` with its caption(s) from `caption_column` of the metadata.

    `max_images` keeps the first rows; `cache_dir` is the `datasets` Arrow cache (default: the
    library's). Images are read from the "train" split, which is all of them unless the folder has
    train/ and test/ subfolders.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"image folder '{data_dir}' does not exist")
    if not any(f in METADATA_FILES for _, _, files in os.walk(data_dir) for f in files):
        raise FileNotFoundError(
            f"image folder '{data_dir}' has no metadata.jsonl with captions "
            f'(one line per image: {{"file_name": "0001.png", "{caption_column}": "a caption"}})')
    dataset = datasets.load_dataset("imagefolder", data_dir=data_dir, split="train", cache_dir=cache_dir)
    return captioned_from_dataset(dataset, "image", caption_column, None, image_size=image_size,
                                  channels=channels, max_images=max_images)
