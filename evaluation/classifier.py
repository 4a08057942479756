"""A small CNN trained on a real dataset, the judge of generated images from it (digits, Fashion-MNIST).

It gives a dataset its sample metrics: accuracy of `predict` on samples drawn for a class's prompt
("does a sample for 'a photo of a sneaker' read as a sneaker?"), and a Fréchet distance and
precision/recall on its penultimate-layer `features` (a dataset-specific extractor, since Inception
features of 32x32 greyscale images say little).

Trained once with random shifts (so slightly off-centre samples are still read correctly), then
cached as safetensors with its accuracy on held-out real images in the metadata; later calls load it.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

Split = tuple[torch.Tensor, torch.Tensor]  # uint8 images (N, 1, H, W), int64 labels (N,)


class SmallCNN(nn.Module):
    """Conv stem -> two conv blocks -> global average pool -> `feature_dim` features -> class logits.

    Input: uint8 (N, 1, H, W) images like `CaptionedImages.images`, scaled to [-1, 1] inside.
    The stem is a single narrow conv and pools at once: at full resolution the convolutions cost
    the most, and CPU training must stay short. The adaptive pool makes the layers independent of H
    and W; `image_size` is kept to reject images of another size, for which the learnt filters would
    see strokes and edges of the wrong width.
    """

    def __init__(self, image_size: int, num_classes: int = 10, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.image_size = image_size
        self.held_out_accuracy: float | None = None  # set by load_or_train_classifier
        self.convs = nn.Sequential(
            _conv_bn_relu(1, width // 2), nn.MaxPool2d(2),
            _conv_bn_relu(width // 2, width), _conv_bn_relu(width, width), nn.MaxPool2d(2),
            _conv_bn_relu(width, 2 * width), _conv_bn_relu(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(2 * width, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of float images (N, 1, H, W) in [-1, 1]."""
        return self.head(self.fc(self.convs(x)))

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim), float32 on the CPU, for Fréchet distance."""
        return self._map(images, lambda x: self.fc(self.convs(x)), batch_size)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Predicted classes (N,) int64 on the CPU of uint8 images (N, 1, H, W)."""
        return self._map(images, lambda x: self(x).argmax(dim=1), batch_size)

    def _map(self, images: torch.Tensor, fn, batch_size: int) -> torch.Tensor:
        """Apply `fn` in eval mode to batches of uint8 images scaled to [-1, 1]; restores the mode."""
        if images.dtype != torch.uint8 or images.shape[1:] != (1, self.image_size, self.image_size):
            raise ValueError(f"expected uint8 (N, 1, {self.image_size}, {self.image_size}) images, "
                             f"got {images.dtype} {tuple(images.shape)}")
        was_training, device = self.training, next(self.parameters()).device
        self.eval()
        outputs = [fn(to_unit_range(batch.to(device))).cpu() for batch in images.split(batch_size)]
        self.train(was_training)
        return torch.cat(outputs)


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU())


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range diffusion models also work in."""
    return images.float() / 127.5 - 1.0


def train_classifier(images: torch.Tensor, labels: torch.Tensor, image_size: int, width: int = 32, seed: int = 0,
                     epochs: int = 10, batch_size: int = 64, lr: float = 2e-3, max_shift: int | None = None) -> SmallCNN:
    """Train a 10-class `SmallCNN` with AdamW and a one-cycle learning rate on uint8 images (N, 1, H, W),
    labels (N,), on the CPU. max_shift: random translation per axis in pixels (None = image_size // 8)."""
    max_shift = max(1, image_size // 8) if max_shift is None else max_shift
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        model = SmallCNN(image_size, width=width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=generator).split(batch_size):
            x = random_shift(to_unit_range(images[idx]), max_shift, generator)
            loss = F.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels per axis, filling with background (-1)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def load_or_train_classifier(path: str | None, image_size: int, splits: Callable[[], tuple[Split, Split]],
                             width: int = 32, seed: int = 0, **training) -> SmallCNN:
    """The classifier cached at `path`, or one trained on splits() = (train, held_out) and saved there.

    `splits` is called only when training, so a cached classifier needs no data. The held-out accuracy
    is stored in the file's metadata and set as `model.held_out_accuracy`. `path=None` trains without
    saving. `training`: keyword arguments of `train_classifier` (epochs, batch_size, lr, max_shift).
    """
    if path and os.path.isfile(path):
        return _load(path, image_size, width)
    (train_x, train_y), (test_x, test_y) = splits()
    model = train_classifier(train_x, train_y, image_size, width, seed, **training)
    model.held_out_accuracy = (model.predict(test_x) == test_y).float().mean().item()
    if path:
        _save(model, path)
    return model


def _save(model: SmallCNN, path: str) -> None:
    """Write to a temporary file and rename, so a crash never leaves a truncated cache file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".safetensors", dir=os.path.dirname(path) or ".")
    os.close(fd)
    metadata = {"image_size": str(model.image_size), "held_out_accuracy": json.dumps(model.held_out_accuracy)}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def _load(path: str, image_size: int, width: int) -> SmallCNN:
    model = SmallCNN(image_size, width=width)
    model.load_state_dict(load_file(path))
    with safe_open(path, framework="pt") as f:
        model.held_out_accuracy = json.loads(f.metadata()["held_out_accuracy"])
    return model.eval()
