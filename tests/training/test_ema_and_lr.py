import pytest
import torch

from training.ema import EMA
from training.lr_schedule import warmup_cosine


def test_ema_follows_the_polyak_update_with_warmup():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.9, warmup=True)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=0)  # decay_at(0) = 1/10
    assert torch.allclose(ema.model.weight, 0.1 * start + 0.9 * net.weight)
    assert ema.decay_at(1000) == 0.9 and not ema.model.weight.requires_grad


def test_ema_without_warmup_uses_the_decay():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.5, warmup=False)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.mul_(3)
    ema.update(net, step=0)
    assert torch.allclose(ema.model.weight, 0.5 * start + 0.5 * net.weight)
    with pytest.raises(ValueError, match="ema_decay"):
        EMA(net, decay=1.0)


def test_warmup_then_cosine_to_the_floor():
    f = lambda s: warmup_cosine(s, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(10, 120))
