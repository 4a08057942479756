"""What every tab shares: the studio's context (queue, history, run defaults), streaming a job's events
into page updates, and turning what the page sends (editor layers, uploaded files) into job inputs.

A job's error event becomes gr.Error, which Gradio shows as a message in the page; the server goes on.
Images are enlarged (nearest) for display only: the saved results keep the model's resolution.
"""
from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from diffusion.samplers import SAMPLERS
from generation.first_stage import load_recorded_first_stage
from runfolder.checkpoint import checkpoint_dirs, load_config
from studio.codec import MAX_UPLOAD_BYTES, encode_png
from studio.history import History
from studio.spec import JobSpec

DISPLAY = 256  # pixels a shown image is enlarged to


@dataclass
class Studio:
    """What the tabs need: where jobs go, where results are, and the run's defaults for the form."""

    queue: object
    history: History
    run: Path
    sampler: str
    num_steps: int
    guidance_scale: float
    max_steps: int
    progress_every: int = 1
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    distilled: bool = False  # a few-step student (train_distill.py): Generate answers as the form changes

    def checkpoints(self) -> list[str]:
        return [p.name for p in checkpoint_dirs(self.run)]

    @functools.cached_property
    def first_stage(self):
        """The run's first stage on the CPU, to show a trajectory's states as pixels (a latent run's are latents;
        the page may run beside a Redis queue, without the model)."""
        return load_recorded_first_stage(load_config(checkpoint_dirs(self.run)[-1]), self.run, "cpu")

    @property
    def samplers(self) -> list[str]:
        return list(SAMPLERS)


def enlarge(image: Image.Image) -> Image.Image:
    """Nearest-neighbour enlargement to about DISPLAY pixels high (a batch strip keeps its cells square)."""
    scale = max(1, DISPLAY // image.height)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def from_b64(data: str) -> Image.Image:
    return enlarge(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def latency(result: dict) -> str:
    """The line the page reports when a job is done, e.g. "done in 1.234 s (1234 ms per image): 50 steps, 24.1 ms/step"."""
    timings, images = result["params"]["timings"], max(1, int(result["params"]["spec"].get("batch") or 1))
    return (f"done in {result['seconds']:.3f} s ({1000 * timings['run_s'] / images:.0f} ms per image): "
            f"{timings['steps']} steps, {timings['ms_per_step']:.1f} ms/step (model load {timings['load_s']:.2f} s) "
            f"on {result['worker']} · saved as {result['entry']}")


def run_job(studio: Studio, spec: JobSpec):
    """Yield (frame image or None, status line) for each event; the last one carries the result event.
    An error event raises gr.Error (a message in the page)."""
    for event in studio.queue.submit(spec):
        if event["event"] == "progress":
            yield from_b64(event["image"]), f"step {event['step'] + 1}/{event['steps']} (t={event['t']})", None
        elif event["event"] == "error":
            raise gr.Error(event["message"])
        else:
            yield None, latency(event), event


def result_images(studio: Studio, entry: str) -> list[Image.Image]:
    return [enlarge(Image.open(path).convert("RGB")) for path in studio.history.images(entry)]


def flatten(layer: np.ndarray) -> Image.Image:
    """An editor image (H, W, 4) RGBA (transparent where nothing is drawn) -> RGB on white."""
    image = Image.fromarray(layer.astype(np.uint8))
    if image.mode != "RGBA":
        return image.convert("RGB")
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image).convert("RGB")


def editor_image(value: dict | None) -> str:
    """The editor's composite (an upload and/or a drawing) -> base64 PNG."""
    if not value or value.get("composite") is None:
        raise gr.Error("no image: upload one or draw on the canvas first")
    return encode_png(flatten(value["composite"]))


def editor_mask(value: dict | None, has_image: bool = False) -> tuple[str, str]:
    """(the editor's background image, the mask brushed over it: white where any layer has paint), base64 PNG.
    has_image: whether the page put an image in the editor (an upload or a send). Brushing on an empty editor gives a
    blank canvas of one colour as its background: with no image put in, that is no image to inpaint. (A client of the
    API sends its image directly, and the page's flag is unknown to it: a picture with content is taken.)"""
    if not value or value.get("background") is None:
        raise gr.Error("no image to inpaint: upload one first")
    blank = np.ptp(value["background"].reshape(-1, value["background"].shape[-1]), axis=0).max() == 0
    if blank and not has_image:
        raise gr.Error("no image to inpaint: upload one first")
    background = flatten(value["background"])
    painted = np.zeros(background.size[::-1], dtype=bool)
    for layer in value.get("layers") or []:
        if layer.shape[:2] != painted.shape:
            raise gr.Error(f"mask layer is {layer.shape[1]}x{layer.shape[0]} but the image is {background.width}x{background.height}")
        painted |= layer[..., 3] > 0 if layer.shape[-1] == 4 else layer.max(-1) > 0
    if not painted.any():
        raise gr.Error("no mask: brush over the region to regenerate")
    return encode_png(background), encode_png((painted * 255).astype(np.uint8))
