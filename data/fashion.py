"""Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747) from the idx files of the Debian package.

70 000 greyscale 28x28 photos of Zalando products in 10 classes (60 000 train, 10 000 test, MIT
licence), the one well-known real photo dataset available offline: `apt-get install -y
dataset-fashion-mnist` puts the original idx files under `/usr/share/datasets/fashion-mnist/`
(gzipped; plain files are read too). `root` points elsewhere on other systems.

Images are padded, not resized, to 32x32: 2 black pixels per side (the photos already sit on a
black background) keep every original pixel exact, where a 28 -> 32 resize would blur each edge by
a fractional resampling, and 32 divides by the U-Net's downsampling factors. Sizes below 28 (tiny
test configs) are resized with an antialiased filter.

Each image gets every held-in template of its class as a caption ("a photo of a sneaker", "a
sneaker", ...), drawn one per visit in training. `HELD_OUT_TEMPLATES` never appear in training;
the evaluation prompts with them to see whether the text encoder carries the class to new wordings.
"""
from __future__ import annotations

import gzip
import hashlib
import os

import datasets
import numpy as np
import torch
from PIL import Image

from data.captioned import CaptionedImages, from_hf
from data.disk_cache import cached_dataset
from data.preprocess import preprocess_image

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL = "apt-get install -y dataset-fashion-mnist"
SPLITS = {"train": "train", "test": "t10k"}  # split name -> idx file prefix
NATIVE_SIZE = 28

# The dataset's 10 labels in order: short names (metric keys) and noun phrases with their article (captions).
LABEL_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
CLASSES = ("a t-shirt", "a pair of trousers", "a pullover", "a dress", "a coat",
           "a sandal", "a shirt", "a sneaker", "a bag", "an ankle boot")

# {item} is the class's noun phrase. The first template is the canonical prompt.
TEMPLATES = (
    "a photo of {item}",
    "{item}",
    "a picture of {item}",
    "a product photo of {item}",
    "a black and white photo of {item}",
    "a photograph of {item} on a black background",
)
HELD_OUT_TEMPLATES = (  # used only by the evaluation, never as training captions
    "an image of {item}",
    "a catalogue shot of {item}",
    "a greyscale snapshot of {item}",
)

# Bump when images or captions change, so stale caches under `cache_dir` are not reused.
CACHE_VERSION = "v1"


def captions(label: int, templates: tuple[str, ...] = TEMPLATES) -> tuple[str, ...]:
    """Every caption of class `label` (0-9) under `templates`."""
    if label not in range(len(CLASSES)):
        raise ValueError(f"label must be in 0..{len(CLASSES) - 1}, got {label}")
    return tuple(t.format(item=CLASSES[label]) for t in templates)


def prompt(label: int) -> str:
    """The canonical prompt of class `label`, e.g. prompt(7) == "a photo of a sneaker"."""
    return captions(label)[0]


def load_fashion(root: str = DEFAULT_ROOT, split: str = "train", image_size: int = 32, num_images: int | None = None,
                 cache_dir: str | None = None) -> CaptionedImages:
    """The `split` of Fashion-MNIST as 1-channel `image_size` squares with their class captions.

    num_images: keep the first that many images of the split (None = all).
    """
    return load_fashion_with_labels(root, split, image_size, num_images, cache_dir)[0]


def load_fashion_with_labels(root: str = DEFAULT_ROOT, split: str = "train", image_size: int = 32,
                             num_images: int | None = None,
                             cache_dir: str | None = None) -> tuple[CaptionedImages, torch.Tensor]:
    """`load_fashion` plus the (N,) int64 labels, for classifiers and per-class metrics.

    With `cache_dir`, the `datasets.Dataset` is saved under a folder named by the split, size, count and
    a fingerprint of the idx files, and memory-mapped from there on later calls.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; valid choices: {', '.join(SPLITS)}")
    if num_images is not None and num_images < 1:
        raise ValueError(f"num_images must be positive or null, got {num_images}")
    images_path, labels_path = idx_paths(root, split)
    build = lambda: _build_dataset(images_path, labels_path, image_size, num_images)
    if cache_dir:
        name = f"fashion-{split}-{image_size}px-n{num_images or 'all'}-{fingerprint(images_path, labels_path)}-{CACHE_VERSION}"
        dataset = cached_dataset(cache_dir, name, build)
    else:
        dataset = build()
    return from_hf(dataset), torch.tensor(dataset["label"], dtype=torch.int64)


def idx_paths(root: str, split: str) -> tuple[str, str]:
    """(images, labels) idx file paths of `split` under `root`, gzipped or not; a one-line error if absent."""
    found = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        candidates = [os.path.join(root, f"{SPLITS[split]}-{kind}{ext}") for ext in (".gz", "")]
        path = next((p for p in candidates if os.path.isfile(p)), None)
        if path is None:
            raise FileNotFoundError(f"Fashion-MNIST not found: no {candidates[0]} (install it with `{INSTALL}`, "
                                    f"or set data.dataset.root to the folder holding the idx files)")
        found.append(path)
    return found[0], found[1]


def read_idx(path: str) -> np.ndarray:
    """An idx file (LeCun's MNIST format: magic 0x0000 08 NDIM, NDIM big-endian int32 sizes, then unsigned
    bytes) as a uint8 array of those sizes."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = bytearray(f.read())  # writable, so the arrays it backs are too
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (magic {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {body.size} bytes for shape {shape}")
    return body.reshape(shape)


def to_size(images: np.ndarray, image_size: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, image_size, image_size): zero-padded (centred) up to any size >= 28,
    resized with an antialiased filter below it."""
    n, h, w = images.shape
    if image_size >= h:
        top, left = (image_size - h) // 2, (image_size - w) // 2
        out = np.zeros((n, image_size, image_size), dtype=np.uint8)
        out[:, top:top + h, left:left + w] = images
        return out
    return np.stack([preprocess_image(image, image_size, 1, Image.Resampling.BILINEAR) for image in images])


def _build_dataset(images_path: str, labels_path: str, image_size: int, num_images: int | None) -> datasets.Dataset:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"{images_path} and {labels_path} disagree: images {images.shape}, labels {labels.shape}")
    images, labels = images[:num_images], labels[:num_images].astype(np.int64)
    table = [list(captions(label)) for label in range(len(CLASSES))]
    features = datasets.Features({
        "image": datasets.Array2D((image_size, image_size), "uint8"),
        "captions": datasets.Sequence(datasets.Value("string")),
        "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
    })
    return datasets.Dataset.from_dict(
        {"image": to_size(images, image_size), "captions": [table[label] for label in labels], "label": labels},
        features=features)


def fingerprint(*paths: str) -> str:
    """A short hash of the files' resolved paths, sizes and modification times: a cache built from one copy
    of the data (say a test fixture) is never read back for another."""
    stats = [(os.path.realpath(p), os.path.getsize(p), os.path.getmtime(p)) for p in paths]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:10]
