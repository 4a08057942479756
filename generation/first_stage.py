"""The first stage of a diffusion run: the space its U-Net works in, and the way to and from pixels.

`first_stage=pixel` (the default) diffuses the images themselves. `first_stage=autoencoder` diffuses the
latents of a KL autoencoder trained by train_autoencoder.py, scaled by the factor stored in its
checkpoint so they have unit variance (Rombach et al. 2022, sec. 4.3.2). Both expose the same interface,
so training, previews, sample.py, evaluate.py and the editing functions never ask which one they hold:
    shape(channels, image_size) -> the (channels, size) the U-Net works at
    encode(x (B, C, H, W) in [-1, 1]) -> x0 for the diffusion model (B, c, h, w)
    decode(x0 (B, c, h, w)) -> images (B, C, H, W) in [-1, 1]
    pixel_shape(c, h) -> the (channels, size) of the images, from the (channels, size) the U-Net works at
    model_mask(mask (N, 1, H, W) bool) -> the mask on the U-Net's grid (a cell is masked if any pixel is)
    bounded: whether x0 lives in [-1, 1], i.e. whether samplers may clip their x0 estimates
    derived(): what a diffusion checkpoint records to find this first stage again
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from runfolder.checkpoint import CheckpointError, checkpoint_dirs, load_config, load_network
from schemas.check import ConfigError
from schemas.instantiate import instantiate_or_explain

ENCODE_BATCH = 256


class PixelSpace:
    """The identity: the U-Net diffuses the images."""

    bounded = True
    identity = "pixel"

    def shape(self, channels: int, image_size: int) -> tuple[int, int]:
        return channels, image_size

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return x0

    def pixel_shape(self, channels: int, size: int) -> tuple[int, int]:
        return channels, size

    def model_mask(self, mask: torch.Tensor) -> torch.Tensor:
        return mask

    def derived(self) -> dict:
        return {}

    def to(self, device) -> "PixelSpace":
        return self


class LatentSpace:
    """A trained autoencoder's scaled posterior means: x0 = mean(q(z | x)) * scaling_factor.

    Encoding takes the posterior mean, not a sample: with the small KL weight the posterior's std is a
    small fraction of the latents' spread, the scaling factor was measured on the means, and a cached
    dataset of means is a deterministic function of the weights (one sample, frozen in a cache, would
    add noise without the augmentation a fresh draw per step gives)."""

    bounded = False  # scaled latents span several units: clipping x0 to [-1, 1] would destroy them

    def __init__(self, autoencoder: torch.nn.Module, checkpoint: Path, identity: str):
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.checkpoint, self.identity = Path(checkpoint), identity

    @property
    def scaling_factor(self) -> float:
        return float(self.autoencoder.scaling_factor)

    def shape(self, channels: int, image_size: int) -> tuple[int, int]:
        ae = self.autoencoder
        if (channels, image_size) != (ae.in_channels, ae.image_size):
            raise ConfigError(f"the autoencoder in {self.checkpoint} was trained on {ae.in_channels}x{ae.image_size}x"
                              f"{ae.image_size} images, but the data is {channels}x{image_size}x{image_size}")
        return ae.latent_channels, ae.latent_size

    def pixel_shape(self, channels: int, size: int) -> tuple[int, int]:
        ae = self.autoencoder
        return ae.in_channels, ae.image_size

    def model_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A latent cell is regenerated if any pixel it covers is: the decoder spreads each cell over its pixels."""
        factor = self.autoencoder.image_size // self.autoencoder.latent_size
        return F.max_pool2d(mask.float(), factor) > 0

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> scaled latents (B, c, H/f, W/f) float32, in batches."""
        out = [self.autoencoder.encode(x[i : i + ENCODE_BATCH].float()).mode() for i in range(0, len(x), ENCODE_BATCH)]
        return torch.cat(out) * self.scaling_factor

    @torch.no_grad()
    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, c, h, w) -> images (B, C, h*f, w*f) in [-1, 1], float32."""
        z = x0.float() / self.scaling_factor
        return torch.cat([self.autoencoder.decode(z[i : i + ENCODE_BATCH]).clamp(-1, 1) for i in range(0, len(z), ENCODE_BATCH)])

    def derived(self) -> dict:
        return {"first_stage": {"checkpoint": str(self.checkpoint.resolve()), "identity": self.identity}}

    def to(self, device) -> "LatentSpace":
        self.autoencoder.to(device)
        return self


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256: the identity of a set of weights."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def autoencoder_checkpoint(run: str, checkpoint: str | None = None) -> Path:
    """The checkpoint folder of a train_autoencoder.py run: its newest, or the named one (a step or a folder name)."""
    found = checkpoint_dirs(run) if Path(run).is_dir() else []
    if not found:
        raise ConfigError(f"first_stage.run={run}: no autoencoder run folder with a checkpoint there "
                          f"(train one with: python train_autoencoder.py +experiment=ae_shapes64)")
    wanted = None if checkpoint is None else (f"step_{int(checkpoint):08d}" if str(checkpoint).isdigit() else str(checkpoint))
    path = found[-1] if wanted is None else next((p for p in found if p.name == wanted), None)
    if path is None:
        raise ConfigError(f"first_stage.checkpoint={checkpoint} not in {run}; valid choices: {', '.join(p.name for p in found)}")
    return path


def load_autoencoder(run: str, checkpoint: str | None = None, weights: str = "ema", device="cpu") -> LatentSpace:
    """The autoencoder of a train_autoencoder.py run folder (its newest checkpoint, or the named one)."""
    if weights not in ("ema", "model"):
        raise ConfigError(f"unknown first_stage.weights {weights!r}; valid choices: ema, model")
    path = autoencoder_checkpoint(run, checkpoint)
    cfg = load_config(path)
    if "autoencoder" not in cfg:
        raise ConfigError(f"first_stage.run={run} is not an autoencoder run (its config has no autoencoder section)")
    model = instantiate(cfg.autoencoder, **cfg.derived)
    load_network(model, path / f"{weights}.safetensors")
    return LatentSpace(model, path, file_digest(path / f"{weights}.safetensors")).to(device)


def build_first_stage(node: DictConfig | None, device) -> PixelSpace | LatentSpace:
    """The `first_stage` config group as an object; a config without one (runs before it existed) is pixel space."""
    if node is None or not is_latent(node):
        return PixelSpace()
    if OmegaConf.is_missing(node, "run"):
        raise ConfigError("first_stage=autoencoder needs first_stage.run=<autoencoder run folder> "
                          "(train one with: python train_autoencoder.py +experiment=ae_shapes64)")
    return instantiate_or_explain(node, "first_stage", device=device)


def is_latent(node: DictConfig | None) -> bool:
    """Whether a `first_stage` config names an autoencoder run (even one still to be given, `run: ???`)."""
    return node is not None and "run" in node.keys()


def load_recorded_first_stage(cfg: DictConfig, run: Path, device) -> PixelSpace | LatentSpace:
    """The first stage a diffusion checkpoint was trained with: the autoencoder checkpoint it recorded,
    checked to be the same weights. A missing or changed one is a one-line error."""
    recorded = OmegaConf.select(cfg, "derived.first_stage")
    if recorded is None:
        return PixelSpace()
    path = Path(recorded.checkpoint)
    weights = OmegaConf.select(cfg, "first_stage.weights", default="ema")
    if not (path / f"{weights}.safetensors").is_file():
        raise CheckpointError(f"run={run} diffuses in the latents of the autoencoder checkpoint {path}, which is not "
                              f"there; restore that autoencoder run folder")
    first_stage = load_autoencoder(str(path.parent.parent), path.name, weights, device)
    if first_stage.identity != recorded.identity:
        raise CheckpointError(f"run={run} was trained on the latents of {path}, but its weights have changed since "
                              f"(identity {first_stage.identity}, recorded {recorded.identity})")
    return first_stage


def check_same_first_stage(saved: DictConfig, cfg: DictConfig) -> None:
    """Resuming a latent run needs the autoencoder weights it started on (first_stage.checkpoint=null picks
    the newest, which moves if the autoencoder run was continued). Raises ConfigError."""
    recorded = OmegaConf.select(saved, "derived.first_stage")
    node = cfg.get("first_stage")
    if recorded is None or not is_latent(node) or OmegaConf.is_missing(node, "run"):
        return
    path = autoencoder_checkpoint(node.run, node.get("checkpoint"))
    weights = path / f"{node.get('weights', 'ema')}.safetensors"
    if weights.is_file() and file_digest(weights) != recorded.identity:
        raise ConfigError(f"resume: this run was trained on the latents of {recorded.checkpoint}, but first_stage now "
                          f"gives {path} with other weights; pass first_stage.checkpoint={Path(recorded.checkpoint).name}")
