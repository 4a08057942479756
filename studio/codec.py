"""Images in and out of jobs: base64 PNG for specs and events, and safe decoding of what users upload.

An upload is checked before PIL decodes it in full: a byte limit, then the header's pixel count (a small
PNG can declare a huge canvas), then a full decode; every failure is one line naming the field. Files on disk
(what Gradio's upload route wrote) are measured before they are read (`check_upload_file`).
Decoded images are prepared like training data (data/preprocess.py), as generation/images.py does.
"""
from __future__ import annotations

import base64
import binascii
import io
import os

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from data.preprocess import preprocess_image
from schemas.check import ConfigError

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096


def encode_png(image: Image.Image | np.ndarray | torch.Tensor) -> str:
    """A PIL image, an (H, W[, C]) uint8 array or a (C, H, W) uint8 tensor -> base64 PNG text."""
    if isinstance(image, torch.Tensor):
        array = image.permute(1, 2, 0).cpu().numpy()
        image = array[..., 0] if array.shape[-1] == 1 else array
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def over_bytes(key: str, size: int, max_bytes: int) -> ConfigError:
    """The one-line refusal of an upload that is too large, the same on every path (the page says it too)."""
    return ConfigError(f"{key}: {size} bytes is over the {max_bytes} byte upload limit ({max_bytes / 2**20:g} MB)")


def open_header(source, key: str) -> Image.Image:
    """PIL's lazy open of a file or stream (it reads the header only), refused over MAX_UPLOAD_PIXELS."""
    try:
        image = Image.open(source)
    except Image.DecompressionBombError:
        raise ConfigError(f"{key}: the image declares over the {MAX_UPLOAD_PIXELS} pixel limit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ConfigError(f"{key}: not an image file PIL can read ({type(error).__name__})") from None
    if image.width * image.height > MAX_UPLOAD_PIXELS:
        raise ConfigError(f"{key}: {image.width}x{image.height} pixels is over the {MAX_UPLOAD_PIXELS} pixel limit "
                          f"(4096x4096)")
    return image


def check_upload_file(path: str | os.PathLike, key: str = "image", max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """An uploaded file on disk, refused before it is read or decoded: its size, then its header's pixel count."""
    size = os.path.getsize(path)
    if size > max_bytes:
        raise over_bytes(key, size, max_bytes)
    open_header(path, key).close()


def decode_image(data: str | bytes, key: str = "image", max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """base64 text or raw bytes -> a fully decoded PIL image, within the byte and pixel limits."""
    if isinstance(data, str):
        if len(data) > 4 * (max_bytes // 3 + 1):  # refused before the base64 text is decoded
            raise over_bytes(key, len(data) * 3 // 4, max_bytes)
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{key}: not base64 image data") from None
    if len(data) > max_bytes:
        raise over_bytes(key, len(data), max_bytes)
    image = open_header(io.BytesIO(data), key)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ConfigError(f"{key}: not an image file PIL can read ({type(error).__name__})") from None
    return image


def image_tensor(image: Image.Image, shape: tuple[int, int], device="cpu") -> torch.Tensor:
    """(1, C, H, W) float in [-1, 1] at the model's (channels, image_size), prepared like training data. A square
    image a whole multiple of the model's size (a result the studio enlarged for showing and sent on) is shrunk by
    averaging each block, which gives the result back exactly; any other size is resized like training data."""
    channels, size = shape
    whole = image.width == image.height and image.width % size == 0
    resample = Image.Resampling.BOX if whole else Image.Resampling.BICUBIC
    array = torch.from_numpy(preprocess_image(image, size, channels, resample=resample).copy())
    image = array.unsqueeze(0) if channels == 1 else array.permute(2, 0, 1)
    return (image.float() / 127.5 - 1).unsqueeze(0).to(device)


def mask_tensor(mask: Image.Image, image: Image.Image, image_size: int, device="cpu") -> torch.Tensor:
    """(1, 1, H, W) bool, true = regenerate (white > 127); the mask must have the image's size in pixels."""
    if mask.size != image.size:
        raise ConfigError(f"mask is {mask.size[0]}x{mask.size[1]} pixels but the image is {image.size[0]}x"
                          f"{image.size[1]}; draw the mask on the image")
    array = preprocess_image(mask, image_size, 1, resample=Image.Resampling.NEAREST)
    return torch.from_numpy(array > 127).view(1, 1, image_size, image_size).to(device)
