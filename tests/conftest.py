"""Shared test helpers: tiny networks built directly from constructor arguments."""
import pytest
import torch

from models.unet import UNet

TINY_UNET = dict(
    in_channels=3, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, image_size=8,
    attention_resolutions=(4,), context_dim=12, attention_head_dim=8, norm_groups=4,
)


def tiny_unet(seed: int = 0, **overrides) -> UNet:
    """A ~50k-parameter UNet whose zero-initialised layers are given random weights, so that its output
    actually depends on its inputs (a freshly built UNet outputs exactly zero)."""
    torch.manual_seed(seed)
    model = UNet(**{**TINY_UNET, **overrides})
    with torch.no_grad():
        for p in model.parameters():
            if torch.all(p == 0):
                p.normal_(0, 0.05)
    return model.eval()


def text_condition(batch: int, length: int = 6, dim: int = 12, real_tokens=(6, 3), seed: int = 1):
    """(context (B, L, dim), context_mask (B, L) bool, pooled (B, dim)) with padding after real_tokens[i]."""
    g = torch.Generator().manual_seed(seed)
    context = torch.randn(batch, length, dim, generator=g)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for i in range(batch):
        mask[i, : real_tokens[i % len(real_tokens)]] = True
    return context, mask, torch.randn(batch, dim, generator=g)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """Datasets and text embeddings shared by the training tests."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh folder, so runs/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
