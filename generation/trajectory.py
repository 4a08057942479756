"""Trajectories of a generation, and rewinding one to an earlier step to continue it differently.

A trajectory holds, for every step k of the chain, everything the sampler needs to continue from k:
x_t (the input of step k), t, the x0 predicted at k, the multistep memory (DPM-Solver++'s previous x0
and h, diffusion/samplers.py SamplerState) and the RNG state of the sampler's generator before step k
(DDPM and DDIM with eta > 0 draw noise after the network call). Saved as <name>.safetensors (tensors)
+ <name>.json (prompts, seed, sampler settings). All prompts are sampled as one batch, and a rewind
re-runs that same batch, so rewinding with the same prompts, guidance and seed is bitwise the original.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from diffusion.inpainting import renoise
from diffusion.samplers import SamplerState
from generation.sampling import Denoiser, SamplerSettings, binding_start, fixed_noise, run_chain
from runfolder.atomic import write_atomic
from schemas.check import ConfigError


@dataclass
class Trajectory:
    """S steps of N images. x, x0: (S, N, C, H, W); t: (S,) long; previous_x0: (S, N, C, H, W) (zeros
    where has_previous is false); previous_h: (S,) float64 (nan: none); rng: (S, bytes) uint8."""

    prompts: list[str]
    seed: int
    settings: SamplerSettings
    x: torch.Tensor
    x0: torch.Tensor
    t: torch.Tensor
    previous_x0: torch.Tensor
    has_previous: torch.Tensor
    previous_h: torch.Tensor
    rng: torch.Tensor

    def __len__(self) -> int:
        return len(self.t)


class _Recorder:
    """The sampler callback that snapshots each step (the state object and generator are the sampler's)."""

    def __init__(self, state: SamplerState, generator: torch.Generator):
        self.state, self.generator, self.rows = state, generator, []

    def __call__(self, step: int, t: int, xt: torch.Tensor, x0: torch.Tensor) -> None:
        previous = self.state.previous_x0
        self.rows.append(dict(
            x=xt.float().cpu().clone(), x0=x0.float().cpu().clone(), t=torch.tensor(t),
            previous_x0=torch.zeros_like(xt, device="cpu", dtype=torch.float32) if previous is None else previous.float().cpu().clone(),
            has_previous=torch.tensor(previous is not None),
            previous_h=torch.tensor(float("nan") if self.state.previous_h is None else self.state.previous_h, dtype=torch.float64),
            rng=self.generator.get_state().clone()))


@torch.no_grad()
def sample_with_trajectory(denoiser: Denoiser, prompts: list[str], settings: SamplerSettings, seed: int = 0
                           ) -> tuple[torch.Tensor, Trajectory]:
    """(images (N, C, H, W) uint8, their trajectory): the same images as text-to-image in one batch. The
    trajectory holds the chain's own states (latents in a latent run)."""
    settings = denoiser.chain_settings(settings)
    noise = fixed_noise(len(prompts), *denoiser.shape, seed, denoiser.device)
    generator = torch.Generator(device=denoiser.device).manual_seed(seed)
    state = SamplerState()
    recorder = _Recorder(state, generator)
    model_fn = denoiser.model_fn(prompts, settings)
    x, hooks = binding_start(denoiser.model, denoiser.cache, prompts, settings, denoiser.schedule, denoiser.prediction_type,
                             noise)
    x = run_chain(model_fn, x, denoiser.schedule, denoiser.prediction_type, settings, precision=denoiser.precision,
                  generator=generator, callback=recorder, state=state, **hooks)
    stacked = {key: torch.stack([row[key] for row in recorder.rows]) for key in recorder.rows[0]}
    return denoiser.to_uint8(x), Trajectory(list(prompts), seed, settings, **stacked)


def save_trajectory(trajectory: Trajectory, path: str | Path, extra: dict | None = None) -> Path:
    """path.safetensors + path.json (with `extra`, e.g. the run and checkpoint)."""
    path = Path(path).with_suffix(".safetensors")
    tensors = {k: getattr(trajectory, k).contiguous() for k in ("x", "x0", "t", "previous_x0", "has_previous", "previous_h", "rng")}
    meta = {"prompts": trajectory.prompts, "seed": trajectory.seed, "sampler": asdict(trajectory.settings),
            "steps": len(trajectory), **(extra or {})}
    write_atomic(path, save(tensors))  # the tensors first: a reader needs both files, and looks for the .json
    write_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str) + "\n")
    return path


def load_trajectory(path: str | Path) -> tuple[Trajectory, dict]:
    """(the trajectory, the JSON metadata) from path.safetensors and the .json beside it."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise ConfigError(f"trajectory={path}: needs {path.with_suffix('.safetensors').name} and {meta_path.name} "
                          f"(written by sample.py save_trajectory=true)")
    meta = json.loads(meta_path.read_text())
    try:
        tensors = load_file(str(path.with_suffix(".safetensors")))
    except Exception as error:  # safetensors raises its own error types for a corrupt file
        raise ConfigError(f"trajectory={path}: not a readable safetensors file ({type(error).__name__})") from None
    return Trajectory(meta["prompts"], meta["seed"], SamplerSettings(**meta["sampler"]), **tensors), meta


def _check_rewind(trajectory: Trajectory, step: int, index: int, renoise_step: int | None) -> None:
    steps, images = len(trajectory), len(trajectory.prompts)
    if not 0 <= step < steps:
        raise ConfigError(f"step={step} is beyond the trajectory's {steps} steps; valid steps: 0..{steps - 1}")
    if not 0 <= index < images:
        raise ConfigError(f"index={index} is not an image of the trajectory; valid indices: 0..{images - 1}")
    if renoise_step is not None and not 0 <= renoise_step <= step:
        raise ConfigError(f"renoise_step={renoise_step} must be an earlier step than step={step}: 0..{step}")


@torch.no_grad()
def rewind(denoiser: Denoiser, trajectory: Trajectory, step: int, prompt: str | None = None, *, index: int = 0,
           seed: int | None = None, guidance_scale: float | None = None, guidance_rescale: float | None = None,
           renoise_step: int | None = None) -> tuple[torch.Tensor, dict]:
    """Continue image `index` of the trajectory from step `step` with another prompt (None: its own),
    guidance or seed, optionally first re-noised back to the earlier step `renoise_step`. The other images
    of the batch run along with their own prompts, as in the original. seed None (or the trajectory's own
    seed) restores the generator's state at that step. Returns ((1, C, H, W) uint8, params)."""
    _check_rewind(trajectory, step, index, renoise_step)
    settings = SamplerSettings(**{**asdict(trajectory.settings), **{k: v for k, v in
                                  dict(guidance_scale=guidance_scale, guidance_rescale=guidance_rescale).items() if v is not None}})
    prompts = list(trajectory.prompts)
    prompts[index] = trajectory.prompts[index] if prompt is None else prompt
    generator = torch.Generator(device=denoiser.device)
    if seed is None or seed == trajectory.seed:
        generator.set_state(trajectory.rng[step].clone())  # a row of the stacked table is a view: set_state wants its own storage
    else:
        generator.manual_seed(seed)
    x = trajectory.x[step].to(denoiser.device)
    h = float(trajectory.previous_h[step])
    state = SamplerState(trajectory.previous_x0[step].to(denoiser.device) if trajectory.has_previous[step] else None,
                         None if h != h else h)
    start = step
    if renoise_step is not None and renoise_step < step:
        num_steps = settings.num_steps or denoiser.schedule.num_timesteps
        x = renoise(denoiser.schedule, x, num_steps, settings.spacing, step, renoise_step, generator)
        state, start = SamplerState(), renoise_step
    model_fn = denoiser.model_fn(prompts, settings)
    x = run_chain(model_fn, x, denoiser.schedule, denoiser.prediction_type, settings, precision=denoiser.precision,
                  generator=generator, start=start, state=state)
    params = {"step": step, "timestep": int(trajectory.t[step]), "renoise_step": renoise_step, "start_step": start,
              "index": index, "prompt": prompts[index], "original_prompt": trajectory.prompts[index],
              "seed": trajectory.seed if seed is None else seed, "sampler": asdict(settings),
              "steps_run": (settings.num_steps or denoiser.schedule.num_timesteps) - start}
    return denoiser.to_uint8(x[index : index + 1]), params
