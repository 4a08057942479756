"""The stream of training batches, a pure function of (seed, data position, step, rank, micro-batch).

Images are visited in epochs, each a fresh permutation drawn from (seed, epoch); the stream position is
the number of images consumed so far. Everything random inside a step (which caption of an image, the
caption dropout for classifier-free guidance, timesteps, noise, dropout in the network) comes from a
generator seeded by (seed, step, rank, micro-batch). Resuming at a step therefore replays exactly what
an uninterrupted run would have seen, and the only data state to save is the position.
A global batch of `batch_size` images is split into world_size ranks x grad_accum micro-batches.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from data.captioned import CaptionedImages


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixing the parts, with no collisions between e.g. (step 1, rank 10) and (step 11, rank 0)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def step_generator(seed: int, step: int, rank: int, micro: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derived_seed(seed, step, rank, micro))


@dataclass
class MicroBatch:
    x0: torch.Tensor  # (b, C, H, W) float32 in [-1, 1]
    rows: torch.Tensor  # (b,) long, rows of the embedding cache (the null row where the caption was dropped)
    generator: torch.Generator  # for timesteps and noise of this micro-batch


class BatchStream:
    """Draws micro-batches from an in-memory dataset whose captions are rows of an EmbeddingCache."""

    def __init__(self, data: CaptionedImages, caption_rows: dict[str, int], null_row: int, p_uncond: float,
                 seed: int, device: torch.device):
        self.images = data.images.to(device)
        counts = [len(c) for c in data.captions]
        self.counts = torch.tensor(counts, device=device)
        self.offsets = torch.cumsum(torch.tensor([0] + counts[:-1]), 0).to(device)
        self.rows = torch.tensor([caption_rows[c] for caps in data.captions for c in caps], device=device)
        self.null_row, self.p_uncond, self.seed, self.device = null_row, p_uncond, seed, device

    def __len__(self) -> int:
        return len(self.images)

    def indices(self, start: int, count: int) -> torch.Tensor:
        """Image indices at stream positions [start, start + count)."""
        n, out = len(self), []
        while count > 0:
            epoch, offset = divmod(start, n)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch)))
            take = min(count, n - offset)
            out.append(perm[offset : offset + take])
            start, count = start + take, count - take
        return torch.cat(out).to(self.device)

    def micro_batch(self, position: int, step: int, rank: int, world_size: int, micro: int, grad_accum: int,
                    batch_size: int) -> MicroBatch:
        """Micro-batch `micro` of rank `rank` within the global batch that starts at stream `position`."""
        size = batch_size // (world_size * grad_accum)
        start = position + (rank * grad_accum + micro) * size
        index = self.indices(start, size)
        generator = step_generator(self.seed, step, rank, micro, self.device)
        pick = (torch.rand(size, generator=generator, device=self.device) * self.counts[index]).long()
        rows = self.rows[self.offsets[index] + pick]
        dropped = torch.rand(size, generator=generator, device=self.device) < self.p_uncond
        rows = torch.where(dropped, torch.full_like(rows, self.null_row), rows)
        x0 = self.images[index].float() / 127.5 - 1.0
        return MicroBatch(x0, rows, generator)
