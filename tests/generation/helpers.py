"""A Denoiser without a trained model: the tiny random UNet and a word-hashing text encoder."""
from __future__ import annotations

import zlib

import torch

from diffusion.schedules import get_schedule
from generation.sampling import Denoiser, SamplerSettings
from models.text_encoder import TextEmbedding
from runfolder.embedding_cache import EmbeddingCache
from tests.conftest import tiny_unet


class WordEncoder:
    """Each word -> a fixed random 12-d vector (from its crc32), between a start and an end token, like a
    tokenizer's [CLS] ... [SEP]; pooled = mean of the real tokens."""

    identity, max_length, dim = "word-hash", 16, 12

    def tokens(self, caption: str) -> list[str]:
        return ["<start>", *caption.split()[: self.max_length - 2], "<end>"]

    def token_count(self, caption: str) -> int:
        return len(self.tokens(caption))

    def _vector(self, word: str) -> torch.Tensor:
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(zlib.crc32(word.encode())))

    def encode(self, captions: list[str]) -> TextEmbedding:
        tokens = [self.tokens(c) for c in captions]
        length = max(len(t) for t in tokens)
        context = torch.zeros(len(captions), length, self.dim)
        mask = torch.zeros(len(captions), length, dtype=torch.bool)
        for i, words in enumerate(tokens):
            context[i, : len(words)] = torch.stack([self._vector(w) for w in words])
            mask[i, : len(words)] = True
        pooled = (context * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return TextEmbedding(context, mask, pooled)


def tiny_denoiser(prediction_type: str = "v", seed: int = 0, **unet) -> Denoiser:
    return Denoiser(tiny_unet(seed, **unet), get_schedule("cosine", 100), prediction_type, EmbeddingCache(WordEncoder()), (3, 8))


def settings(sampler: str = "ddim", num_steps: int = 6, guidance_scale: float = 2.0, **options) -> SamplerSettings:
    return SamplerSettings(name=sampler, num_steps=num_steps, guidance_scale=guidance_scale, options=options)


STOCHASTIC = {"ddim": {"eta": 1.0}, "ddpm": {}, "dpm_solver_pp_2m": {}}
