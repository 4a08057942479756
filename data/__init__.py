"""Datasets of captioned images, built on the Hugging Face `datasets` library.

Why a top-level `data/` package rather than `diffusion/data.py`: `diffusion/` is the maths and does
no I/O, while every module here generates, downloads or caches files. Each dataset module returns a
`CaptionedImages`, the one in-memory form the training loop consumes.
"""
from data.captioned import CaptionedImages

__all__ = ["CaptionedImages"]
