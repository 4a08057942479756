"""End-to-end behaviour of train_autoencoder.py on a tiny config, in-process."""
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_autoencoder
from models.autoencoder import AutoencoderKL
from models.autoencoder_loss import psnr
from runfolder.checkpoint import checkpoint_dirs, load_state
from schemas.check import ConfigError
from tests.test_train import _stop_after
from tests.training_harness import compose_train
from training.autoencoder_outputs import latents, reconstruct

TINY_AE = [
    "autoencoder.base_channels=8", "autoencoder.channel_mults=[1,2]", "autoencoder.norm_groups=4",
    "data.dataset.num_images=64", "data.dataset.image_size=8", "batch_size=8", "max_steps=6", "warmup_steps=2",
    "log_every=2", "sample_every=0", "ckpt_every=3", "precision=fp32", "scale_images=32",
]


def run_autoencoder(overrides, cache_dir, base=TINY_AE):
    cfg = compose_train(overrides, cache_dir, base, config="train_autoencoder")
    train_autoencoder.train(cfg)
    return Path(HydraConfig.get().runtime.output_dir)


def test_resumed_autoencoder_training_is_bitwise_identical_to_uninterrupted(in_tmp, cache_dir, monkeypatch):
    common = ["ckpt_every=100", "loss.kl_weight=1e-3", "loss.l2_weight=0.5"]
    straight = run_autoencoder(["name=ae_straight", *common], cache_dir)
    with monkeypatch.context() as m:
        _stop_after(m, 3)
        split = run_autoencoder(["name=ae_split", *common], cache_dir)
    assert [p.name for p in checkpoint_dirs(split)] == ["step_00000003"]
    assert run_autoencoder(["name=ae_split", f"resume={split}", *common], cache_dir) == split
    a, b = checkpoint_dirs(straight)[-1], checkpoint_dirs(split)[-1]
    assert a.name == b.name == "step_00000006"
    for weights in ("model.safetensors", "ema.safetensors"):
        x, y = load_file(a / weights), load_file(b / weights)
        assert all(torch.equal(x[k], y[k]) for k in x), weights
    assert load_state(a / "state.pt")["position"] == load_state(b / "state.pt")["position"] == 48


def test_reconstructions_improve_and_the_scaling_factor_gives_unit_latents(in_tmp, cache_dir):
    from data.shapes import load_shapes

    images = load_shapes(64, 8, cache_dir=str(cache_dir)).images
    run = run_autoencoder(["name=ae_learns", "max_steps=20", "ckpt_every=2", "lr=3e-3", "ema_decay=0.5",
                           "keep_checkpoints=10", "sample_every=20"], cache_dir)
    early, late = _load(checkpoint_dirs(run)[0]), _load(checkpoint_dirs(run)[-1])
    x = images.float() / 127.5 - 1
    assert psnr(x, reconstruct(late, images)).mean() > psnr(x, reconstruct(early, images)).mean() + 2.0
    for model in (early, late):  # each checkpoint's factor scales its own latents to unit std
        scaled = latents(model, images[:32]) * model.scaling_factor
        assert scaled.std().item() == pytest.approx(1.0, rel=1e-4)
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    assert {"train/loss", "train/l1", "train/l2", "train/kl", "eval/psnr"} <= set(events.Tags()["scalars"])
    assert "reconstructions/ema" in events.Tags()["images"]


def _load(checkpoint):
    model = AutoencoderKL(in_channels=3, image_size=8, base_channels=8, channel_mults=(1, 2), norm_groups=4)
    model.load_state_dict(load_file(checkpoint / "ema.safetensors"))
    return model.eval()


def test_resume_refuses_an_autoencoder_of_another_shape(in_tmp, cache_dir):
    run = run_autoencoder(["name=ae_shape", "max_steps=3"], cache_dir)
    cfg = compose_train(["name=ae_shape", f"resume={run}", "autoencoder.latent_channels=8"], cache_dir, TINY_AE,
                        config="train_autoencoder")
    with pytest.raises(ConfigError, match=r"autoencoder.latent_channels \(4 -> 8\)"):
        train_autoencoder.train(cfg)


def test_bad_autoencoder_config_is_one_line(in_tmp, cache_dir):
    cfg = compose_train(["name=ae_bad", "autoencoder.channel_mults=[1,2,2,2]", "data.dataset.image_size=12"], cache_dir,
                        TINY_AE, config="train_autoencoder")
    with pytest.raises(ConfigError, match="not divisible by the autoencoder's downsampling factor 8"):
        train_autoencoder.train(cfg)
