"""`CaptionedImages`: the in-memory form of every dataset, and its conversion from `datasets`.

Datasets are generated, downloaded and cached with the `datasets` library (Arrow files on disk), then
held in memory as one uint8 tensor: at the sizes this project targets the whole set fits in RAM and
random batches are a single index operation, with no DataLoader workers competing for 2 CPU cores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class CaptionedImages:
    """Images with one or more candidate captions each.

    images: (N, C, H, W) uint8 in [0, 255].
    captions: N tuples of strings; training draws one caption per image per visit, so paraphrases
        act as augmentation. Every caption that can ever be drawn is listed, so the text-embedding
        cache can encode all of them once, up front.
    """

    images: torch.Tensor
    captions: list[tuple[str, ...]]

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.captions) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.captions)} caption lists")
        if any(len(c) == 0 for c in self.captions):
            raise ValueError("every image needs at least one caption")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def unique_captions(self) -> list[str]:
        """Every caption that can be drawn, each once, in a stable order."""
        return sorted({c for caps in self.captions for c in caps})


def from_hf(dataset, image_column: str = "image", captions_column: str = "captions") -> CaptionedImages:
    """Convert a `datasets.Dataset` whose rows hold an image and a list of captions.

    The image column may hold PIL images or (H, W[, C]) uint8 arrays; all rows must share one size.
    Columns are read whole (one Arrow slice each), not row by row, which is several times faster.
    """
    columns = dataset.with_format("numpy", columns=[image_column], output_all_columns=True)[:]
    images = columns[image_column]
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim >= 3):
        images = np.stack([np.asarray(img, dtype=np.uint8) for img in images])
    images = torch.from_numpy(np.ascontiguousarray(images))
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    captions = [tuple(c) if isinstance(c, (list, tuple)) else (c,) for c in columns[captions_column]]
    return CaptionedImages(images.contiguous(), captions)
