"""Image preprocessing shared by every dataset loader: any PIL image -> a square uint8 array.

One rule for all sources (hub datasets, image folders, scikit-learn digits) so that a model trained
on one loader sees pixels prepared exactly like another's: centre crop to the shorter side (keeps
the aspect ratio, the subject is usually central), then an antialiased resize to `image_size`, then
conversion to 1 channel ('L', grayscale) or 3 channels ('RGB').
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from PIL import Image

MODES = {1: "L", 3: "RGB"}


def preprocess_image(image: Image.Image | np.ndarray, image_size: int, channels: int,
                     resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """Centre-crop `image` to a square, resize it to `image_size` and convert it to `channels`.

    `image` is a PIL image or a uint8 (H, W) / (H, W, C) array (datasets that store raw arrays).

    Returns a uint8 array of shape (image_size, image_size) for 1 channel or
    (image_size, image_size, 3) for 3 channels, the layout `from_hf` and PIL use.

    PIL's resize filters widen their support when shrinking, so a downscale is antialiased (no
    aliasing moire on 256 -> 32), unlike a strided or nearest-neighbour resize.
    """
    if channels not in MODES:
        raise ValueError(f"channels must be one of {sorted(MODES)}, got {channels}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    # Convert first: palette ('P') and 16-bit images resize badly or not at all in their own mode.
    image = image.convert(MODES[channels])
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != image_size:
        image = image.resize((image_size, image_size), resample=resample)
    return np.asarray(image, dtype=np.uint8)


def preprocess_images(images: Iterable[Image.Image], image_size: int, channels: int,
                      resample: Image.Resampling = Image.Resampling.BICUBIC) -> torch.Tensor:
    """Preprocess every image and stack them as the (N, C, H, W) uint8 tensor of `CaptionedImages`."""
    arrays = [preprocess_image(image, image_size, channels, resample) for image in images]
    if not arrays:
        raise ValueError("no images to preprocess")
    stacked = torch.from_numpy(np.stack(arrays))
    stacked = stacked.unsqueeze(1) if channels == 1 else stacked.permute(0, 3, 1, 2)
    return stacked.contiguous()
