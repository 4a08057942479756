import pytest
import torch

from tests.conftest import text_condition, tiny_unet
from training.compile import compile_network


def test_blocks_mode_compiles_in_place_and_keeps_the_checkpoint_layout():
    model = tiny_unet()
    keys = list(model.state_dict())
    assert compile_network(model, "blocks") is model
    assert list(model.state_dict()) == keys  # checkpoints of compiled and eager runs are interchangeable
    assert compile_network(model, "none") is model
    with pytest.raises(ValueError, match="unknown compile mode 'fast'; valid choices: none, blocks, model"):
        compile_network(model, "fast")


@pytest.mark.slow
def test_regionally_compiled_network_matches_eager():
    eager, compiled = tiny_unet(), compile_network(tiny_unet(), "blocks")
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 40])
    context, mask, _ = text_condition(2)
    torch.testing.assert_close(compiled(x, t, context, mask), eager(x, t, context, mask), atol=1e-4, rtol=1e-4)
