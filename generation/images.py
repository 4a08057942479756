"""Reading the images and masks that editing starts from, and writing its results with a JSON sidecar.

An input image is prepared exactly like training data (data/preprocess.py: centre crop, antialiased
resize, 1 or 3 channels). A mask must have the input's size in pixels, so that it marks the region the
user drew; it is then cropped and resized with the image (nearest, so it stays binary).
White (> 127) = regenerate, black = keep.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from data.preprocess import preprocess_image
from generation.grid import to_pil
from runfolder.atomic import write_atomic
from schemas.check import ConfigError


def open_image(path: str | Path, key: str = "image") -> Image.Image:
    """The image file at path, or a one-line ConfigError naming the key and the file."""
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise ConfigError(f"{key}={path}: no such file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ConfigError(f"{key}={path}: not an image file PIL can read ({type(error).__name__})") from None


def load_image(path: str | Path, shape: tuple[int, int], device="cpu") -> torch.Tensor:
    """(1, C, H, W) float in [-1, 1] at the model's (channels, image_size)."""
    channels, size = shape
    array = torch.from_numpy(preprocess_image(open_image(path), size, channels).copy())
    image = array.unsqueeze(0) if channels == 1 else array.permute(2, 0, 1)
    return (image.float() / 127.5 - 1).unsqueeze(0).to(device)


def check_mask_size(path: str | Path, image_path: str | Path) -> Image.Image:
    """The mask image, if it has the input image's size in pixels; else a one-line ConfigError."""
    mask, image = open_image(path, "mask"), open_image(image_path)
    if mask.size != image.size:
        raise ConfigError(f"mask={path} is {mask.size[0]}x{mask.size[1]} pixels but image={image_path} is "
                          f"{image.size[0]}x{image.size[1]}; draw the mask at the image's size")
    return mask


def load_mask(path: str | Path, image_path: str | Path, image_size: int, invert: bool = False, device="cpu") -> torch.Tensor:
    """(1, 1, H, W) bool, true = regenerate: white pixels (or black ones with invert)."""
    mask = check_mask_size(path, image_path)
    array = preprocess_image(mask, image_size, 1, resample=Image.Resampling.NEAREST)
    region = torch.from_numpy(array > 127)
    return (~region if invert else region).view(1, 1, image_size, image_size).to(device)


def save_results(out: str | Path, images, params: dict) -> Path:
    """<out>/000.png, 001.png ... from (N, C, H, W) uint8 (or a list of (C, H, W) of any sizes), and
    <out>/result.json holding params, each file written atomically (runfolder/atomic.py)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        png = io.BytesIO()
        to_pil(image.cpu()).save(png, format="PNG")
        write_atomic(out / f"{i:03d}.png", png.getvalue())
    write_atomic(out / "result.json", json.dumps(params, indent=2, default=str) + "\n")  # last: it marks the folder done
    return out
