"""DDIM inversion: run the deterministic DDIM chain backwards, from a clean image to the noise that DDIM
would turn back into it (Song et al. 2021, sec. 4.3; Dhariwal & Nichol 2021, appendix F).

DDIM's step from position i to i + 1 (timesteps t_i > t_{i+1}) is, with eps the network's noise estimate
at (x_i, t_i),  x_{i+1} = sqrt(ab_{i+1}) x0 + sqrt(1 - ab_{i+1}) eps,  x0 = (x_i - sqrt(1 - ab_i) eps) / sqrt(ab_i).
Solved for x_i, it needs eps at x_i, which is unknown; inversion uses the network at (x_{i+1}, t_i) instead,
the usual approximation (exact as the steps shrink):
    eps = the noise that the output at (x_{i+1}, t_i) implies (diffusion/forward.py to_x0_eps: eps, x0 or v),
    x0  = (x_{i+1} - sqrt(1 - ab_{i+1}) eps) / sqrt(ab_{i+1}),   x_i = sqrt(ab_i) x0 + sqrt(1 - ab_i) eps.
Because eps is the quantity DDIM steps with, the same rule is correct for every prediction type.

Negative-prompt inversion (Miyake et al. 2023) is the guidance-aware method: invert with the source
prompt alone (guidance 1), then regenerate with guidance w and the *source* prompt in the unconditional
branch. With target = source both branches agree, guided = uncond + w (cond - uncond) = cond, and the
chain is the exact reverse of the inversion whatever w is. It costs nothing beyond plain inversion, unlike
null-text optimisation (Mokady et al. 2023), which fits the null embedding per step by gradient descent
and approximates the same fixed point.
"""
from __future__ import annotations

import math

import torch

from diffusion.forward import to_x0_eps
from diffusion.samplers import model_output
from diffusion.schedules import Schedule
from diffusion.timesteps import sampling_timesteps

INVERSION_METHODS = ("plain", "negative_prompt")


@torch.no_grad()
def ddim_invert(model_fn, x0: torch.Tensor, schedule: Schedule, *, prediction_type: str, num_steps: int | None,
                spacing: str = "trailing", stop: int = 0) -> list[torch.Tensor]:
    """Latents of the inversion of x0 (B, C, H, W): a list whose entry i is x at chain position i for
    i = stop .. num_steps (position num_steps is x0 itself). Entry 0 (with stop = 0) is the noise that
    DDIM (eta 0) with the same model_fn, num_steps and spacing maps back to about x0; starting DDIM at
    position k from entry k regenerates from there (img2img-like partial inversion)."""
    num_steps = num_steps or schedule.num_timesteps
    timesteps = sampling_timesteps(schedule.num_timesteps, num_steps, spacing).tolist()
    alpha_bar = [float(schedule.alpha_bar[t]) for t in timesteps] + [1.0]
    latents = {num_steps: x0}
    x, x0_pred = x0, None
    for i in range(num_steps - 1, stop - 1, -1):
        t = torch.full((x.shape[0],), timesteps[i], device=x.device, dtype=torch.long)
        # a self-conditioned network reads the estimate of the call before (none at the first)
        _, eps = to_x0_eps(schedule, model_output(model_fn, x, t, x0_pred).to(x.dtype), x, t, prediction_type)
        x0_pred = (x - math.sqrt(1 - alpha_bar[i + 1]) * eps) / math.sqrt(alpha_bar[i + 1])
        x = math.sqrt(alpha_bar[i]) * x0_pred + math.sqrt(1 - alpha_bar[i]) * eps
        latents[i] = x
    return [latents[i] for i in range(stop, num_steps + 1)]


def check_inversion_method(method: str) -> None:
    if method not in INVERSION_METHODS:
        raise ValueError(f"unknown inversion method {method!r}; valid choices: {', '.join(INVERSION_METHODS)}")
