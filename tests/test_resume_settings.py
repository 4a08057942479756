"""Resuming keeps the checkpoint's optimisation state but this command line's hyper-parameters."""
import torch
from omegaconf import OmegaConf

from training.ema import EMA
from training.lr_schedule import build_lr_scheduler
from training.resume import restore, save


def _parts(lr, beta2, weight_decay):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, beta2), weight_decay=weight_decay)
    return dict(model=model, ema=EMA(model, 0.999, True), optimizer=optimizer,
                lr_scheduler=build_lr_scheduler(optimizer, 2, 10, 0.1), scaler=torch.amp.GradScaler("cpu", enabled=False))


def test_lr_betas_and_weight_decay_given_on_resume_take_effect_and_adams_moments_are_restored(tmp_path):
    parts = _parts(1e-3, 0.999, 0.0)
    for _ in range(3):
        parts["model"](torch.randn(5, 4)).square().mean().backward()
        parts["optimizer"].step()
        parts["optimizer"].zero_grad()
        parts["lr_scheduler"].step()
    path = save(tmp_path, 3, 0, 0, OmegaConf.create({"keep_checkpoints": 1}), {}, **parts)

    same = _parts(1e-3, 0.999, 0.0)
    restore(path, **same)
    assert same["optimizer"].param_groups[0]["lr"] == parts["optimizer"].param_groups[0]["lr"]

    changed = _parts(2e-3, 0.99, 0.01)
    step, _, _ = restore(path, **changed)
    group = changed["optimizer"].param_groups[0]
    assert step == 3 and group["betas"] == (0.9, 0.99) and group["weight_decay"] == 0.01
    assert group["lr"] == 2 * parts["optimizer"].param_groups[0]["lr"]   # the new peak, at the saved step
    saved_moments = parts["optimizer"].state_dict()["state"][0]["exp_avg_sq"]
    assert torch.equal(changed["optimizer"].state_dict()["state"][0]["exp_avg_sq"], saved_moments)
