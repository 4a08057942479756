"""The autoencoder evaluation: fresh renders read at the reader's ceiling, and what a first stage loses shows."""
import pytest
import torch

from data.shapes import combinations, render_batch
from evaluation.autoencoder_eval import evaluate_autoencoder


class Stage(torch.nn.Module):
    """A stand-in first stage: encode is the identity, decode applies `damage`."""

    def __init__(self, damage=lambda x: x):
        super().__init__()
        self.autoencoder = torch.nn.Linear(1, 1)  # evaluate_autoencoder asks its parameters for the device
        self.damage = damage

    def encode(self, x):
        return x

    def decode(self, z):
        return self.damage(z)


@pytest.mark.parametrize("size", [32, 64])
def test_a_lossless_stage_keeps_the_ceiling_on_both_splits(size):
    results = evaluate_autoencoder(Stage(), size)
    held_in, held_out = combinations()
    assert results["held_in/images"] == len(held_in) and results["held_out/images"] == len(held_out)
    for split in ("held_in", "held_out"):
        assert results[f"{split}/reader_inputs"] == 1.0
        assert results[f"{split}/reader_reconstructions"] == 1.0
        assert results[f"{split}/psnr"] > 100


def test_losses_show_in_psnr_and_in_the_reader():
    torch.manual_seed(0)
    noisy = evaluate_autoencoder(Stage(lambda x: x + 0.05 * torch.randn_like(x)), 64)
    # 10 log10(4 / 0.05^2) = 32 dB; clamping to [-1, 1] removes half the noise on the black background: ~35 dB
    assert 34 < noisy["held_in/psnr"] < 36
    blank = evaluate_autoencoder(Stage(lambda x: torch.full_like(x, -1.0)), 64)
    assert blank["held_in/reader_reconstructions"] == 0.0 and blank["held_in/reader_inputs"] == 1.0
    assert blank["held_in/psnr"] < noisy["held_in/psnr"]


def test_renders_are_fresh_but_repeatable():
    attrs = combinations()[0][:8]
    assert torch.equal(render_batch(attrs, 32, 1), render_batch(attrs, 32, 1))
    assert not torch.equal(render_batch(attrs, 32, 1), render_batch(attrs, 32, 2))
