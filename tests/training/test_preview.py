"""Preview layout: one row per prompt with several samples each, or the plain grid."""
import pytest
import torch

from generation.grid import caption_grid
from training.preview import preview_layout


def test_each_prompt_fills_a_row_of_its_own():
    prompts = [f"a photo of class {k}" for k in range(10)]
    cells, columns = preview_layout(prompts, per_prompt=4)
    assert columns == 4 and len(cells) == 40
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    assert rows == [[p] * 4 for p in prompts]
    one_row = caption_grid(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), cells[:4], columns).size
    grid = caption_grid(torch.zeros(40, 1, 8, 8, dtype=torch.uint8), cells, columns).size
    assert grid == (one_row[0], 10 * one_row[1])


def test_one_per_prompt_keeps_the_default_grid_and_zero_is_refused():
    prompts = ["a", "b", "c"]
    assert preview_layout(prompts, 1) == (prompts, None)
    with pytest.raises(ValueError, match="preview_per_prompt must be >= 1, got 0"):
        preview_layout(prompts, 0)
