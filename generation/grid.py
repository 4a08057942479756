"""Image grids with each image's caption written above it, for TensorBoard and for sample.py."""
from __future__ import annotations

import textwrap

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

CELL = 128  # pixels per image side in the grid: small images are enlarged (nearest) to stay legible
FONT_SIZE = 11
LINES = 3


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) uint8 -> PIL image (grayscale for C = 1)."""
    array = image.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def caption_grid(images: torch.Tensor, captions: list[str], columns: int | None = None) -> Image.Image:
    """images (N, C, H, W) uint8 and N captions -> one RGB grid, each cell a caption above its image."""
    n = len(images)
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    columns = columns or min(n, 8)
    rows = -(-n // columns)
    font = ImageFont.load_default(size=FONT_SIZE)
    text_height = LINES * (FONT_SIZE + 2) + 4
    grid = Image.new("RGB", (columns * (CELL + 4), rows * (CELL + text_height + 4)), "white")
    draw = ImageDraw.Draw(grid)
    chars_per_line = max(8, int(CELL / (0.55 * FONT_SIZE)))
    for i, (image, caption) in enumerate(zip(images, captions)):
        x, y = (i % columns) * (CELL + 4) + 2, (i // columns) * (CELL + text_height + 4) + 2
        lines = textwrap.wrap(caption, chars_per_line)[:LINES] or ["(empty prompt)"]
        for j, line in enumerate(lines):
            draw.text((x, y + j * (FONT_SIZE + 2)), line, fill="black", font=font)
        grid.paste(to_pil(image).convert("RGB").resize((CELL, CELL), Image.NEAREST), (x, y + text_height))
    return grid


def grid_array(grid: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8, for SummaryWriter.add_image(..., dataformats="HWC")."""
    return np.asarray(grid)
