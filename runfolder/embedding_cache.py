"""A cache of text embeddings: each unique caption is encoded once, in batches, and kept in memory and on disk.

The notebooks this project grew from re-ran the text encoder on every batch, which cost more than the
U-Net itself. Here the training loop only gathers rows of three tables:
    context (N, L, D) float32, context_mask (N, L) bool, pooled (N, D) float32,
one row per caption, padded to the longest caption seen (L <= the encoder's max_length). The disk copy
is one safetensors file per (encoder weights, max_length), listing its captions in the file's metadata,
so entries are keyed by encoder, max length and caption. Row 0 is always the empty caption "", whose
embedding is the null condition for classifier-free guidance.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from models.text_encoder import TextEmbedding, TextEncoder

NULL_CAPTION = ""


class EmbeddingCache:
    """Row-indexed text embeddings for one encoder. `rows(captions)` encodes what is missing;
    `lookup(rows)` is a pure gather."""

    def __init__(self, encoder: TextEncoder, cache_dir: str | os.PathLike | None = None, batch_size: int = 256):
        self.encoder, self.batch_size = encoder, batch_size
        key = hashlib.sha256(f"{encoder.identity}|{encoder.max_length}".encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / "text_embeddings" / f"{key}.safetensors" if cache_dir else None
        self.index: dict[str, int] = {}
        self.context = self.context_mask = self.pooled = None
        if self.path is not None and self.path.exists():
            self._load()
        self.add([NULL_CAPTION])

    def __len__(self) -> int:
        return len(self.index)

    @property
    def null_row(self) -> int:
        return self.index[NULL_CAPTION]

    def add(self, captions: Iterable[str]) -> None:
        """Encode the captions not cached yet, in batches, and save the grown table to disk."""
        missing = sorted({c for c in captions if c not in self.index})
        if not missing:
            return
        self._warn_if_truncated(missing)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            self._append(chunk, self.encoder.encode(chunk))
        if self.path is not None:
            self._save()

    def rows(self, captions: Iterable[str]) -> torch.Tensor:
        """(N,) long row indices of the captions, encoding any that are new."""
        captions = list(captions)
        self.add(captions)
        return torch.tensor([self.index[c] for c in captions], dtype=torch.long)

    def lookup(self, rows: torch.Tensor) -> TextEmbedding:
        """Gather rows (B,) -> TextEmbedding with context (B, L, D), context_mask (B, L), pooled (B, D)."""
        rows = rows.to(self.context.device)
        return TextEmbedding(self.context[rows], self.context_mask[rows], self.pooled[rows])

    def embed(self, captions: Iterable[str]) -> TextEmbedding:
        return self.lookup(self.rows(captions))

    def to(self, device: torch.device | str) -> "EmbeddingCache":
        self.context, self.context_mask, self.pooled = (t.to(device) for t in (self.context, self.context_mask, self.pooled))
        return self

    def _append(self, captions: list[str], emb: TextEmbedding) -> None:
        if self.context is None:
            self.context, self.context_mask, self.pooled = emb.context.cpu(), emb.context_mask.cpu(), emb.pooled.cpu()
        else:
            length = max(self.context.shape[1], emb.context.shape[1])
            pad = lambda t, value=0: F.pad(t, (0, 0, 0, length - t.shape[1]) if t.ndim == 3 else (0, length - t.shape[1]), value=value)
            device = self.context.device
            self.context = torch.cat([pad(self.context), pad(emb.context).to(device)])
            self.context_mask = torch.cat([pad(self.context_mask, False), pad(emb.context_mask, False).to(device)])
            self.pooled = torch.cat([self.pooled, emb.pooled.to(device)])
        for caption in captions:
            self.index[caption] = len(self.index)

    def _warn_if_truncated(self, captions: list[str]) -> None:
        long = [c for c in captions if self.encoder.token_count(c) > self.encoder.max_length]
        if long:
            warnings.warn(f"{len(long)} caption(s) exceed the text encoder's max_length={self.encoder.max_length} tokens "
                          f"and are truncated, e.g. {long[0][:60]!r}", stacklevel=3)

    def _save(self) -> None:
        """Write to a temporary file and rename it over the old one: a crash never leaves half a cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        captions = sorted(self.index, key=self.index.get)
        tensors = {"context": self.context, "context_mask": self.context_mask, "pooled": self.pooled}
        save_file({k: v.cpu().contiguous() for k, v in tensors.items()}, tmp, metadata={"captions": json.dumps(captions)})
        os.replace(tmp, self.path)

    def _load(self) -> None:
        from safetensors import safe_open

        try:
            with safe_open(self.path, framework="pt") as f:
                captions = json.loads(f.metadata()["captions"])
            tensors = load_file(self.path)
        except Exception as error:  # a damaged cache is only a cache: rebuild it
            warnings.warn(f"ignoring unreadable text-embedding cache {self.path}: {error}", stacklevel=3)
            return
        self.context, self.context_mask, self.pooled = tensors["context"], tensors["context_mask"], tensors["pooled"]
        self.index = {c: i for i, c in enumerate(captions)}
