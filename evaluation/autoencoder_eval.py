"""How well a trained autoencoder keeps shapes images: PSNR and the shapes reader on its reconstructions.

Images are rendered fresh (every colour/shape/size/position combination once, jittered by `seed`), so
none is a training image, and the held-out (colour, shape) pairs were never drawn in training at all.
The reader is read on the inputs too: its accuracy there is the ceiling the reconstructions must keep.
"""
from __future__ import annotations

import numpy as np
import torch

from data.shapes import DEFAULT_HELD_OUT, combinations, render_batch
from evaluation.shapes_reader import judge
from models.autoencoder_loss import psnr


def all_attributes(images: torch.Tensor, attrs: list[dict]) -> float:
    """Share of images whose four attributes the reader reads as `attrs` says; images in [-1, 1]."""
    as_uint8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    return float(np.mean([all(judge(image, a).values()) for image, a in zip(as_uint8, attrs)]))


@torch.no_grad()
def evaluate_autoencoder(first_stage, image_size: int, held_out=DEFAULT_HELD_OUT, seed: int = 1) -> dict[str, float]:
    """{split/psnr, split/psnr_min, split/reader_inputs, split/reader_reconstructions, split/images} for
    the held-in and held-out splits; `first_stage` is a generation.first_stage.LatentSpace."""
    results, device = {}, next(first_stage.autoencoder.parameters()).device
    for split, attrs in zip(("held_in", "held_out"), combinations(held_out)):
        if not attrs:
            continue
        images = render_batch(attrs, image_size, seed)
        reconstructions = first_stage.decode(first_stage.encode(images.to(device))).cpu()
        values = psnr(images, reconstructions)
        results.update({f"{split}/psnr": float(values.mean()), f"{split}/psnr_min": float(values.min()),
                        f"{split}/reader_inputs": all_attributes(images, attrs),
                        f"{split}/reader_reconstructions": all_attributes(reconstructions, attrs),
                        f"{split}/images": len(attrs)})
    return results
