"""A dataset's latents, encoded once by the first stage and cached on disk.

Encoding 20 000 images takes minutes on a CPU, far longer than reading them back, and every diffusion run
on the same autoencoder and data needs the same latents. The cache file is keyed by the first stage's
identity (the SHA-256 of the autoencoder weights, scaling factor included) and the images' own bytes, so
a retrained or resumed autoencoder, or other data, never reuses stale latents. Like the text-embedding
cache (runfolder/embedding_cache.py) it is written to a temporary file and renamed into place.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from generation.first_stage import PixelSpace
from training import distributed as ddp


def cache_path(first_stage, images: torch.Tensor, cache_dir) -> Path:
    """<cache_dir>/latents/<key>.safetensors for this first stage and these (N, C, H, W) uint8 images."""
    digest = hashlib.sha256(f"{first_stage.identity}|{tuple(images.shape)}|".encode())
    digest.update(images.contiguous().cpu().numpy().tobytes())
    return Path(cache_dir) / "latents" / f"{digest.hexdigest()[:16]}.safetensors"


def encode_images(first_stage, images: torch.Tensor, device) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, c, h, w) float32 scaled latents, on the CPU."""
    out = [first_stage.encode(images[i : i + 256].to(device).float() / 127.5 - 1.0).cpu() for i in range(0, len(images), 256)]
    return torch.cat(out)


def cached_latents(first_stage, images: torch.Tensor, cache_dir, device) -> torch.Tensor:
    """The images' latents, read from the cache or encoded and written there. Returns (N, c, h, w) float32 (CPU)."""
    path = cache_path(first_stage, images, cache_dir) if cache_dir else None
    if path is not None and path.exists():
        try:
            return load_file(path)["latents"]
        except Exception as error:  # a damaged cache is only a cache: rebuild it
            warnings.warn(f"ignoring unreadable latent cache {path}: {error}", stacklevel=2)
    latents = encode_images(first_stage, images, device)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({"latents": latents.contiguous()}, tmp, metadata={"first_stage": first_stage.identity})
        os.replace(tmp, path)
    return latents


def dataset_latents(first_stage, images: torch.Tensor, cache_dir, device, dist: ddp.Distributed) -> torch.Tensor | None:
    """What the diffusion model trains on: None in pixel space (the stream reads the uint8 images), else the
    cached latents. Rank 0 encodes first, so the other ranks read its cache instead of encoding again."""
    if isinstance(first_stage, PixelSpace):
        return None
    for turn in (0, 1):
        if dist.is_main == (turn == 0):
            latents = cached_latents(first_stage, images, cache_dir, device)
        ddp.barrier(dist)
    return latents
