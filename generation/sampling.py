"""Generating images from prompts: text embeddings from the cache, classifier-free guidance, a sampler.

Shared by the training previews, scripts/sample.py and scripts/evaluate.py, so all three draw images the
same way. The starting noise is drawn for all prompts at once from a seed, so with the deterministic
samplers (DDIM with eta = 0, DPM-Solver++) a prompt's image does not depend on the batch size it was
sampled in; the stochastic ones (DDPM, DDIM with eta > 0) draw step noise per batch, so there the same
seed and the same batch size give the same images.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from dataclasses import dataclass, field

import torch

from diffusion.guidance import conditional_model_fn, guided_model_fn
from diffusion.samplers import get_sampler
from diffusion.schedules import Schedule
from generation.binding import LOSSES, BindingGuide, composable_model_fn, phrases, token_roles
from generation.first_stage import PixelSpace
from runfolder.embedding_cache import EmbeddingCache
from schemas.check import ConfigError


@dataclass
class Denoiser:
    """A trained model ready to draw images: what the generation and editing functions take.
    model: the network in eval mode; shape: (channels, size) of what it diffuses (the images in pixel
    space, the latents in a latent run); first_stage (generation/first_stage.py): the way between pixels
    and that space. The functions take and return pixels, and run their chains in the model's space."""

    model: torch.nn.Module
    schedule: Schedule
    prediction_type: str
    cache: EmbeddingCache
    shape: tuple[int, int]
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    first_stage: object = field(default_factory=PixelSpace)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(channels, size) of the images it draws and the images the editing functions take."""
        return self.first_stage.pixel_shape(*self.shape)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] -> x0 in the model's space."""
        return self.first_stage.encode(images.float())

    def to_uint8(self, x: torch.Tensor) -> torch.Tensor:
        """What a chain returns (the model's space) -> images (N, C, H, W) uint8."""
        return to_uint8(self.first_stage.decode(x.float()))

    def model_fn(self, prompts: list[str], settings: "SamplerSettings", **kwargs):
        """prompt_model_fn for this model: its cache, device and schedule (kwargs: negative_prompts, guidance_scale)."""
        return prompt_model_fn(self.model, self.cache, prompts, settings, self.device,
                               num_timesteps=self.schedule.num_timesteps, **kwargs)

    def chain_settings(self, settings: "SamplerSettings") -> "SamplerSettings":
        """The settings as its chains run them (generation.sampling.chain_settings)."""
        return chain_settings(settings, self.first_stage)


@dataclass
class SamplerSettings:
    """The `sampler` config group: which sampler, how many steps, and guidance."""

    name: str = "ddim"
    num_steps: int | None = 50
    spacing: str = "trailing"
    clip_x0: bool = True
    guidance_scale: float = 2.0
    guidance_rescale: float = 0.0
    guidance_interval: tuple[float, float] = (0.0, 1.0)  # guided where low <= t / T <= high
    options: dict = field(default_factory=dict)  # sampler-specific: eta (ddim), variance (ddpm)
    binding: str = "none"  # none | composable | attend_excite | syngen (generation/binding.py)
    binding_steps: float = 0.5  # attend_excite, syngen: the fraction of the chain's first steps that are guided
    binding_step_size: float = 1.0  # ... and each move of x_t, in units of that step's noise level

    def __post_init__(self):
        self.guidance_interval = tuple(self.guidance_interval)  # a config's list

    @property
    def interval_is_full(self) -> bool:
        return self.guidance_interval[0] <= 0 and self.guidance_interval[1] >= 1

    def tag(self) -> str:
        """A short name for file names, e.g. ddim50_g2, ddim50_g2_i0.2-0.8 with a guidance interval, ddim50_g2_syngen
        with a binding method."""
        low, high = self.guidance_interval
        return (f"{self.name}{self.num_steps or 'all'}_g{self.guidance_scale:g}"
                + ("" if self.interval_is_full else f"_i{low:g}-{high:g}") + ("" if self.binding == "none" else f"_{self.binding}"))

    def describe(self) -> str:
        """For messages, e.g. "ddim, 50 steps, guidance 2" (", over t/T in [0.2, 0.8]" with an interval)."""
        low, high = self.guidance_interval
        return (f"{self.name}, {self.num_steps or 'all'} steps, guidance {self.guidance_scale:g}"
                + ("" if self.interval_is_full else f" over t/T in [{low:g}, {high:g}]")
                + ("" if self.binding == "none" else f", binding {self.binding}"))


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> [0, 255] uint8."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def chain_settings(settings: SamplerSettings, first_stage) -> SamplerSettings:
    """The settings as a chain in the first stage's space runs them: latents are not confined to [-1, 1], so
    clipping the x0 estimate there is only right in pixel space."""
    return settings if first_stage.bounded else dataclasses.replace(settings, clip_x0=False)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def prompt_model_fn(model, cache: EmbeddingCache, prompts: list[str], settings: SamplerSettings, device, *,
                    num_timesteps: int, negative_prompts: list[str] | None = None, guidance_scale: float | None = None):
    """The model_fn(x_t, t) a sampler calls for these prompts: classifier-free guidance at the settings'
    scale (or `guidance_scale`) against the empty prompt, or against negative_prompts where given (one per
    prompt), over the settings' guidance interval of the schedule's num_timesteps; the conditional model
    alone at scale 1. A network with a guidance embedding (a distilled student) takes the scale as an input
    instead: one call, not two."""
    scale = settings.guidance_scale if guidance_scale is None else guidance_scale
    cond = {k: v.to(device) for k, v in cache.embed(prompts).as_model_kwargs().items()}
    if getattr(model, "guidance_embedding", False):  # a distilled student: w is an input, one call per step
        if negative_prompts is not None:
            raise ConfigError("a distilled run folds guidance into its network and has no unconditional branch: "
                              "negative prompts need its teacher run (teacher.run in the student's config)")
        return conditional_model_fn(model, {**cond, "guidance_scale": torch.full((len(prompts),), float(scale), device=device)})
    if scale == 1.0:
        return conditional_model_fn(model, cond)
    if negative_prompts is None:
        uncond = cache.lookup(torch.tensor([cache.null_row])).as_model_kwargs()
    else:
        uncond = cache.embed(negative_prompts).as_model_kwargs()
    uncond = {k: v.to(device) for k, v in uncond.items()}
    if settings.binding == "composable":
        split = [phrases(p) for p in prompts]
        conds = [{k: v.to(device) for k, v in cache.embed([s[i] if i < len(s) else s[0] for s in split]).as_model_kwargs().items()}
                 for i in range(max(map(len, split)))]
        weights = torch.tensor([[float(i < len(s)) for i in range(len(conds))] for s in split], device=device)
        return composable_model_fn(model, conds, uncond, weights, scale)
    low, high = settings.guidance_interval
    interval = None if settings.interval_is_full else (low * num_timesteps, high * num_timesteps)
    return guided_model_fn(model, cond, uncond, scale, settings.guidance_rescale, interval)


# Watching a chain (the studio's live previews) cuts across every generation function; a context variable
# reaches the chains they start without one more argument threaded through each of their signatures.
_step_observer: contextvars.ContextVar = contextvars.ContextVar("step_observer", default=None)


@contextlib.contextmanager
def observe_steps(observer):
    """Inside the block, every chain started through bound_sampler (text-to-image, rewinds, img2img,
    inpainting, regeneration after inversion, attention maps) also calls observer(step, t, x_t, x0_pred),
    after the chain's own callback. It only looks: the images are the same with or without it."""
    token = _step_observer.set(observer)
    try:
        yield
    finally:
        _step_observer.reset(token)


def _observed(sampler, observer):
    def run(*args, callback=None, **kwargs):
        def both(*step):
            if callback is not None:
                callback(*step)
            observer(*step)
        return sampler(*args, callback=both, **kwargs)
    return run


def bound_sampler(settings: SamplerSettings, prediction_type: str):
    """The settings' sampler with the settings bound: sampler(model_fn, x, schedule, generator=..., and the
    chain arguments callback, start, stop, state, step_hook of diffusion/samplers.py)."""
    sampler = functools.partial(get_sampler(settings.name), prediction_type=prediction_type, num_steps=settings.num_steps,
                                spacing=settings.spacing, clip_x0=settings.clip_x0, **settings.options)
    observer = _step_observer.get()
    return sampler if observer is None else _observed(sampler, observer)


def run_chain(model_fn, x: torch.Tensor, schedule: Schedule, prediction_type: str, settings: SamplerSettings, *,
              precision: str = "fp32", generator: torch.Generator | None = None, **chain) -> torch.Tensor:
    """The settings' sampler from x (B, C, H, W) -> float x in [-1, 1]; chain: callback, start, stop, state,
    step_hook. Text-to-image, trajectories and rewinds go through here; img2img, inpainting and inversion
    pass bound_sampler to the editing maths of diffusion/."""
    with autocast(x.device, precision):
        return bound_sampler(settings, prediction_type)(model_fn, x, schedule, generator=generator, **chain)


@torch.no_grad()
def sample_images(model, schedule: Schedule, prediction_type: str, cache: EmbeddingCache, prompts: list[str],
                  settings: SamplerSettings, noise: torch.Tensor, *, batch_size: int = 64, precision: str = "fp32",
                  generator: torch.Generator | None = None, callback=None, first_stage=None) -> torch.Tensor:
    """prompts (N) and noise (N, c, h, w) -> images (N, C, H, W) uint8. `model` should be in eval mode.
    `first_stage` (generation/first_stage.py) decodes what the sampler returns to pixels; None = pixel space."""
    cache.add(prompts)  # encode all new prompts at once, not batch by batch
    if first_stage is not None:
        settings = chain_settings(settings, first_stage)
    out = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        model_fn = prompt_model_fn(model, cache, batch, settings, noise.device, num_timesteps=schedule.num_timesteps)
        x, hooks = binding_start(model, cache, batch, settings, schedule, prediction_type, noise[start : start + batch_size])
        x = run_chain(model_fn, x, schedule, prediction_type, settings, precision=precision, generator=generator,
                      callback=callback, **hooks)
        out.append(to_uint8(x if first_stage is None else first_stage.decode(x)))
    return torch.cat(out)


def binding_start(model, cache: EmbeddingCache, prompts: list[str], settings: SamplerSettings, schedule: Schedule,
                  prediction_type: str, noise: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """(the starting x, the chain's extra arguments) for settings.binding: with attend_excite or syngen the noise
    takes its first step down the loss and the chain a step_hook (generation/binding.py); else (noise, {})."""
    if settings.binding not in LOSSES:
        return noise, {}
    cond = {k: v.to(noise.device) for k, v in cache.embed(prompts).as_model_kwargs().items()}
    roles = [token_roles(cache.encoder.tokens(p)) for p in prompts]
    guide = BindingGuide(settings.binding, model, cond, roles, schedule, settings, prediction_type)
    return guide.update(noise, 0), {"step_hook": guide.step_hook}


def fixed_noise(n: int, channels: int, image_size: int, seed: int, device) -> torch.Tensor:
    """(n, C, H, W) standard normal noise drawn on the CPU from `seed`: identical on every device."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, image_size, image_size, generator=g).to(device)


def make_generate(model, schedule: Schedule, prediction_type: str, cache: EmbeddingCache, settings: SamplerSettings,
                  shape: tuple[int, int], seed: int, device, precision: str = "fp32", batch_size: int = 64,
                  first_stage=None):
    """generate(prompts) -> uint8 images, drawing each call's noise from `seed`: the evaluation
    functions take this, so they do not depend on how a model is stored or sampled. `shape` is
    (channels, size) of what the model diffuses (latents in a latent run; `first_stage` decodes them)."""
    channels, image_size = shape

    def generate(prompts: list[str]) -> torch.Tensor:
        noise = fixed_noise(len(prompts), channels, image_size, seed, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        return sample_images(model, schedule, prediction_type, cache, prompts, settings, noise,
                             batch_size=batch_size, precision=precision, generator=generator,
                             first_stage=first_stage).cpu()

    return generate
