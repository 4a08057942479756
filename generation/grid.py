"""Image grids with each image's caption written above it, for TensorBoard and for sample.py.

Sized for TensorBoard's image card, which shows an image at most ~500 px wide: four 128-px cells per
row keep the grid ~530 px, so the 14-px captions stay ~13 px on screen (an 8-wide strip of the same
cells was shrunk to half, its 11-px text to an illegible 5 px).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

CELL = 128  # pixels per image side in the grid: small images are enlarged (nearest) to stay legible
FONT_SIZE = 14
LINE_HEIGHT = FONT_SIZE + 3
LINES = 3
COLUMNS = 4


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) uint8 -> PIL image (grayscale for C = 1)."""
    array = image.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def caption_lines(caption: str, face: ImageFont.ImageFont) -> list[str]:
    """The caption wrapped at word boundaries to the cell's width in pixels, at most LINES lines (the
    rest is cut; a word wider than the cell overflows into the gap)."""
    lines: list[str] = []
    for word in caption.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= CELL:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines[:LINES] or ["(empty prompt)"]


def caption_grid(images: torch.Tensor, captions: list[str], columns: int | None = None) -> Image.Image:
    """images (N, C, H, W) uint8 and N captions -> one RGB grid, each cell a caption above its image,
    `columns` cells per row (default COLUMNS, or N when fewer)."""
    n = len(images)
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    columns = columns or min(n, COLUMNS)
    rows = -(-n // columns)
    face = font()
    text_height = LINES * LINE_HEIGHT + 4
    grid = Image.new("RGB", (columns * (CELL + 4), rows * (CELL + text_height + 4)), "white")
    draw = ImageDraw.Draw(grid)
    for i, (image, caption) in enumerate(zip(images, captions)):
        x, y = (i % columns) * (CELL + 4) + 2, (i // columns) * (CELL + text_height + 4) + 2
        for j, line in enumerate(caption_lines(caption, face)):
            draw.text((x, y + j * LINE_HEIGHT), line, fill="black", font=face)
        grid.paste(to_pil(image).convert("RGB").resize((CELL, CELL), Image.NEAREST), (x, y + text_height))
    return grid


def grid_array(grid: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8, for SummaryWriter.add_image(..., dataformats="HWC")."""
    return np.asarray(grid)
