"""Distilling a trained teacher into a few-step student whose network takes the guidance scale w as an input.

Networks are passed in as functions net(x_t (B, C, H, W), t (B,) long, w (B,) float) -> the network's output in the
run's prediction type; the teacher's is already guided (two branches, diffusion/guidance.py) and the student's
folds w in (models/unet.py guidance_embedding). Both methods return per-sample losses (B,).

Consistency distillation (Song et al. 2023, "Consistency Models", Algorithm 2; with guidance folded in as in
Luo et al. 2023, "Latent Consistency Models", eq. 9): the student's x0 estimate at x_t must equal its EMA copy's at
the point one guided teacher DDIM step of `skip` timesteps earlier on the same ODE trajectory,
    loss = || f_theta(x_t, t, w) - f_ema(x_{t - skip}, t - skip, w) ||^2,  x_{t - skip} = DDIM_teacher,w(x_t),
where f is the x0 estimate; below t = skip the step lands on the clean image, which is the target itself (the
consistency function's boundary condition). Sampled with diffusion/samplers.py `consistency`.

Progressive distillation (Salimans & Ho 2022, Algorithm 2) after guided distillation (Meng et al. 2023, sec. 3.1):
stage 0 teaches the student the teacher's guided output in one call; each later stage halves the student's steps,
the student's one DDIM step on an N-step grid matching two DDIM steps of the previous stage's student (its stage
teacher, which also takes w) on the 2N-step grid. Solving the DDIM update for the x0 that lands on the teacher's
x_{t''} gives the target
    x0_target = (x_{t''} - (sigma_{t''} / sigma_t) x_t) / (alpha_{t''} - (sigma_{t''} / sigma_t) alpha_t),
and the loss is its squared error with the truncated-SNR weight max(alpha^2 / sigma^2, 1) (Salimans & Ho, sec. 4).
Sampled with DDIM at the last stage's steps.
"""
from __future__ import annotations

from typing import Callable

import torch

from diffusion.forward import q_sample, signal_noise, to_x0_eps
from diffusion.schedules import Schedule

GuidedNet = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _mean_per_sample(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(1)


def ddim_to(schedule: Schedule, x0: torch.Tensor, eps: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
    """The deterministic DDIM update to t_next (B,): sqrt(ab) x0 + sqrt(1 - ab) eps; t_next < 0 is the clean image."""
    clean = t_next < 0
    a, s = signal_noise(schedule, t_next.clamp(min=0), x0)
    stepped = a * x0 + s * eps
    return torch.where(clean.view(-1, *[1] * (x0.ndim - 1)), x0, stepped)


def x0_of(net: GuidedNet, schedule: Schedule, x: torch.Tensor, t: torch.Tensor, w: torch.Tensor, prediction_type: str):
    """(x0, eps) implied by a network's output at (x_t, t, w), unclipped."""
    return to_x0_eps(schedule, net(x, t, w), x, t, prediction_type)


def consistency_distillation_loss(student: GuidedNet, target: GuidedNet, teacher: GuidedNet, schedule: Schedule,
                                  x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, w: torch.Tensor, skip: int,
                                  prediction_type: str) -> torch.Tensor:
    """(B,) consistency-distillation losses at timesteps t (B,) with guidance scales w (B,); see the module docstring."""
    xt = q_sample(schedule, x0, t, eps)
    with torch.no_grad():
        teacher_x0, teacher_eps = x0_of(teacher, schedule, xt, t, w, prediction_type)
        t_prev = t - skip
        x_prev = ddim_to(schedule, teacher_x0, teacher_eps, t_prev)
        aim = x0_of(target, schedule, x_prev, t_prev.clamp(min=0), w, prediction_type)[0]
        aim = torch.where((t_prev < 0).view(-1, *[1] * (x0.ndim - 1)), x_prev, aim)
    estimate = x0_of(student, schedule, xt, t, w, prediction_type)[0]
    return _mean_per_sample((estimate.float() - aim.float()) ** 2)


def guided_distillation_loss(student: GuidedNet, teacher: GuidedNet, schedule: Schedule, x0: torch.Tensor,
                             t: torch.Tensor, eps: torch.Tensor, w: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """(B,) stage-0 losses: the student's one call against the teacher's guided output, in the output's own space."""
    xt = q_sample(schedule, x0, t, eps)
    with torch.no_grad():
        aim = teacher(xt, t, w)
    return _mean_per_sample((student(xt, t, w).float() - aim.float()) ** 2)


def halving_targets(grid: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(t, t', t'') of the student's step `index` (B,) on an N-step grid, from the 2N-step grid `grid` (2N,)
    (decreasing, diffusion/timesteps.py): t = grid[2i], t' = grid[2i + 1], t'' = grid[2i + 2] or -1 (clean)."""
    padded = torch.cat([grid, grid.new_tensor([-1])])
    return padded[2 * index], padded[2 * index + 1], padded[2 * index + 2]


def progressive_distillation_loss(student: GuidedNet, teacher: GuidedNet, schedule: Schedule, x0: torch.Tensor,
                                  grid: torch.Tensor, index: torch.Tensor, eps: torch.Tensor, w: torch.Tensor,
                                  prediction_type: str) -> torch.Tensor:
    """(B,) losses of one halving stage: the student's step `index` (B,) of N against two teacher DDIM steps on the
    2N-step `grid`; see the module docstring."""
    t, t_mid, t_next = halving_targets(grid.to(x0.device), index)
    xt = q_sample(schedule, x0, t, eps)
    with torch.no_grad():
        x_mid = ddim_to(schedule, *x0_of(teacher, schedule, xt, t, w, prediction_type), t_mid)
        x_next = ddim_to(schedule, *x0_of(teacher, schedule, x_mid, t_mid, w, prediction_type), t_next)
        a, s = signal_noise(schedule, t, xt)
        a_next, s_next = signal_noise(schedule, t_next.clamp(min=0), xt)
        clean = (t_next < 0).view(-1, *[1] * (x0.ndim - 1))
        ratio = torch.where(clean, torch.zeros_like(s), s_next / s)
        a_next = torch.where(clean, torch.ones_like(a_next), a_next)
        aim = (x_next - ratio * xt) / (a_next - ratio * a)
        weight = (a**2 / s**2).clamp(min=1.0).flatten()
    estimate = x0_of(student, schedule, xt, t, w, prediction_type)[0]
    return weight * _mean_per_sample((estimate.float() - aim.float()) ** 2)
