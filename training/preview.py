"""Preview grids during training: EMA weights, fixed noise, fixed prompts, so grids compare across steps."""
from __future__ import annotations

from pathlib import Path

import torch

from generation.grid import caption_grid, grid_array
from generation.sampling import fixed_noise, sample_images

PREVIEW_SEED = 1234  # the preview noise is the same in every run, so runs compare too


def preview_prompts(cfg, data) -> list[str]:
    """The data config's preview_prompts, or the first 8 captions of the dataset."""
    prompts = list(cfg.data.get("preview_prompts") or [])
    return prompts or data.unique_captions()[:8]


def preview_layout(prompts: list[str], per_prompt: int = 1) -> tuple[list[str], int | None]:
    """(one prompt per grid cell, columns). per_prompt > 1 repeats each prompt that many times in a row of
    its own, each cell with its own noise, so a row shows one prompt's variety (a class per row)."""
    if per_prompt < 1:
        raise ValueError(f"data.preview_per_prompt must be >= 1, got {per_prompt}")
    if per_prompt == 1:
        return list(prompts), None
    return [p for p in prompts for _ in range(per_prompt)], per_prompt


def write_preview(run_dir: Path, ema_model, schedule, cache, cfg, data, settings, device, step: int, logger,
                  shape: tuple[int, int] | None = None, first_stage=None) -> Path:
    """Sample the preview prompts, save samples/step_XXXXXXXX.png and log the grid to TensorBoard.
    shape: (channels, size) the model diffuses at (default the data's); first_stage decodes it to pixels."""
    prompts = preview_prompts(cfg, data)
    cells, columns = preview_layout(prompts, cfg.data.get("preview_per_prompt", 1))
    noise = fixed_noise(len(cells), *(shape or (data.channels, data.image_size)), PREVIEW_SEED, device)
    generator = torch.Generator(device=device).manual_seed(PREVIEW_SEED)
    images = sample_images(ema_model, schedule, cfg.prediction_type, cache, cells, settings, noise,
                           precision=cfg.precision, generator=generator, first_stage=first_stage)
    grid = caption_grid(images, cells, columns)
    path = Path(run_dir) / "samples" / f"step_{step:08d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    logger.image("samples/ema", grid_array(grid), step)
    logger.text("samples/prompts", "\n\n".join(f"{i}. {p}" for i, p in enumerate(prompts)), step)
    return path
