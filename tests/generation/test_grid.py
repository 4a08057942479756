"""Preview grids stay legible at TensorBoard's card width and show every preview prompt whole."""
from pathlib import Path

import pytest
import torch
import yaml

from generation.grid import CELL, FONT_SIZE, LINES, caption_grid, caption_lines, font

CARD_WIDTH = 500  # about the width at which TensorBoard's image card shows an image
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


def _images(n):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_eight_previews_make_two_rows_of_four_whose_text_stays_legible_on_a_card():
    grid = caption_grid(_images(8), [f"prompt {i}" for i in range(8)])
    assert grid.width == 4 * (CELL + 4) and grid.height == 2 * (CELL + LINES * (FONT_SIZE + 3) + 8)
    assert FONT_SIZE * min(1.0, CARD_WIDTH / grid.width) >= 12


def test_explicit_columns_are_kept():
    grid = caption_grid(_images(10), [str(i) for i in range(10)], columns=5)
    assert grid.width == 5 * (CELL + 4) and grid.height == 2 * (CELL + LINES * (FONT_SIZE + 3) + 8)


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_preview_prompt_fits_its_cell_whole(config):
    face = font()
    for prompt in yaml.safe_load((CONFIGS / config).read_text()).get("preview_prompts") or []:
        lines = caption_lines(prompt, face)
        assert " ".join(lines) == prompt and all(face.getlength(line) <= CELL for line in lines), prompt


def test_caption_count_must_match():
    with pytest.raises(ValueError, match="8 images but 7 captions"):
        caption_grid(_images(8), ["x"] * 7)
