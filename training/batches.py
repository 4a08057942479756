"""The stream of training batches, a pure function of (seed, data position, step, rank, micro-batch).

Images are visited in epochs, each a fresh permutation drawn from (seed, epoch); the stream position is
the number of images consumed so far. The random draws of a step (which caption of each image, the
caption dropout for classifier-free guidance, timesteps, noise) are made for the whole global batch
from a generator seeded by (seed, step), and each process and micro-batch takes its slice. So:
- resuming at a step replays exactly what an uninterrupted run would have seen, and the only data
  state to save is the position;
- a global batch of `batch_size` images, split into world_size ranks x grad_accum micro-batches, sees
  the same images, captions, timesteps and noise however it is split (only dropout inside the network,
  seeded per rank and micro-batch, differs), so 1 process and 8, or grad_accum 1 and 4, train alike.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from data.captioned import CaptionedImages
from diffusion.timestep_sampling import sample_timesteps


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixing the parts, with no collisions between e.g. (step 1, rank 10) and (step 11, rank 0)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def stream_indices(n: int, seed: int, start: int, count: int) -> torch.Tensor:
    """(count,) indices of n images at stream positions [start, start + count): epoch e visits a permutation
    drawn from (seed, e). Shared by every training entry point, so they all resume the same way."""
    out = []
    while count > 0:
        epoch, offset = divmod(start, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(seed, epoch)))
        take = min(count, n - offset)
        out.append(perm[offset : offset + take])
        start, count = start + take, count - take
    return torch.cat(out)


@dataclass
class MicroBatch:
    x0: torch.Tensor  # (b, C, H, W) float32: images in [-1, 1], or scaled latents
    rows: torch.Tensor  # (b,) long, rows of the embedding cache (the null row where the caption was dropped)
    t: torch.Tensor  # (b,) long timesteps
    eps: torch.Tensor  # (b, C, H, W) standard normal noise
    self_cond: torch.Tensor  # (b,) bool: samples whose loss pass gets the network's own x0 estimate (self-conditioning)


class BatchStream:
    """Draws micro-batches from an in-memory dataset whose captions are rows of an EmbeddingCache."""

    def __init__(self, data: CaptionedImages, caption_rows: dict[str, int], null_row: int, p_uncond: float,
                 num_timesteps: int, seed: int, device: torch.device, timestep_sampling: dict | None = None,
                 images: torch.Tensor | None = None):
        # uint8 images (scaled to [-1, 1] per batch), or float x0 given in their place (a first stage's latents)
        self.images = (data.images if images is None else images).to(device)
        counts = [len(c) for c in data.captions]
        self.counts = torch.tensor(counts, device=device)
        self.offsets = torch.cumsum(torch.tensor([0] + counts[:-1]), 0).to(device)
        self.rows = torch.tensor([caption_rows[c] for caps in data.captions for c in caps], device=device)
        self.null_row, self.p_uncond, self.seed, self.device = null_row, p_uncond, seed, device
        self.num_timesteps = num_timesteps
        self.timestep_sampling = dict(timestep_sampling or {"method": "uniform"})  # see diffusion/timestep_sampling.py
        self._draws = (None, None)  # (step, draws) of the last step, shared by its micro-batches

    def __len__(self) -> int:
        return len(self.images)

    def indices(self, start: int, count: int) -> torch.Tensor:
        """Image indices at stream positions [start, start + count)."""
        return stream_indices(len(self), self.seed, start, count).to(self.device)

    def _step_draws(self, step: int, batch_size: int) -> dict[str, torch.Tensor]:
        """The random draws of one step for the whole global batch, from a generator seeded by (seed, step)."""
        if self._draws[0] != (step, batch_size):
            g = torch.Generator(device=self.device).manual_seed(derived_seed(self.seed, step))
            shape = (batch_size, *self.images.shape[1:])
            draws = {"pick": torch.rand(batch_size, generator=g, device=self.device),
                     "drop": torch.rand(batch_size, generator=g, device=self.device) < self.p_uncond,
                     "t": sample_timesteps(batch_size, self.num_timesteps, g, self.device, **self.timestep_sampling),
                     "eps": torch.randn(shape, generator=g, device=self.device)}
            draws["self_cond"] = torch.rand(batch_size, generator=g, device=self.device) < 0.5  # drawn last: the others stay as before
            self._draws = ((step, batch_size), draws)
        return self._draws[1]

    def micro_batch(self, position: int, step: int, rank: int, world_size: int, micro: int, grad_accum: int,
                    batch_size: int) -> MicroBatch:
        """Micro-batch `micro` of rank `rank` within the global batch that starts at stream `position`."""
        size = batch_size // (world_size * grad_accum)
        offset = (rank * grad_accum + micro) * size
        index = self.indices(position + offset, size)
        draws = {k: v[offset : offset + size] for k, v in self._step_draws(step, batch_size).items()}
        rows = self.rows[self.offsets[index] + (draws["pick"] * self.counts[index]).long()]
        rows = torch.where(draws["drop"], torch.full_like(rows, self.null_row), rows)
        x0 = self.images[index].float() / 127.5 - 1.0 if self.images.dtype == torch.uint8 else self.images[index]
        return MicroBatch(x0, rows, draws["t"], draws["eps"], draws["self_cond"])
