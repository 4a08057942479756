import pytest
import torch

from models.context_refiner import ContextRefiner
from tests.conftest import text_condition, tiny_unet


def randomised(refiner: ContextRefiner) -> ContextRefiner:
    """The zero-initialised output projections given random weights, as training would."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in refiner.parameters():
            if torch.all(p == 0):
                p.normal_(0, 0.2)
    return refiner.eval()


def test_a_fresh_refiner_does_not_mix_tokens_and_a_trained_one_does():
    context, mask, _ = text_condition(2, length=6, dim=12, real_tokens=(6, 6))
    other = context.clone()
    other[:, 2] += torch.randn_like(other[:, 2])  # change one word
    fresh = ContextRefiner(12, dim=16, num_layers=2, heads=2).eval()
    a, b = fresh(context, mask), fresh(other, mask)
    keep = [0, 1, 3, 4, 5]
    assert torch.allclose(a[:, keep], b[:, keep], atol=1e-6) and (a[:, 2] - b[:, 2]).abs().max() > 1e-3
    trained = randomised(fresh)
    a, b = trained(context, mask), trained(other, mask)
    assert (a[:, keep] - b[:, keep]).abs().max() > 1e-3  # the other tokens now read the changed word


def test_padding_stays_out_of_the_refined_tokens():
    context, mask, _ = text_condition(2, length=6, dim=12, real_tokens=(4, 2))
    refiner = randomised(ContextRefiner(12, dim=16, num_layers=2, heads=2))
    changed = torch.where(mask[..., None], context, torch.randn_like(context) * 10)
    out = refiner(context, mask)
    assert torch.allclose(out, refiner(changed, mask), atol=1e-5)
    assert torch.all(out[~mask] == 0)


def test_word_order_reaches_the_refined_tokens():
    """Frozen token states carry little order; the refiner's learned positions make swapping two words
    more than a permutation of the output."""
    context, mask, _ = text_condition(1, length=6, dim=12, real_tokens=(6,))
    refiner = randomised(ContextRefiner(12, dim=16, num_layers=1, heads=2))
    swapped = context[:, [0, 2, 1, 3, 4, 5]]
    assert (refiner(context, mask)[:, [0, 2, 1, 3, 4, 5]] - refiner(swapped, mask)).abs().max() > 1e-3


def test_a_unet_with_a_refiner_keeps_shapes_ignores_padding_and_reads_the_text():
    model = tiny_unet(context_refiner_layers=2, context_refiner_dim=16)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 700])
    context, mask, pooled = text_condition(2, real_tokens=(4, 2))
    out = model(x, t, context, mask, pooled)
    assert out.shape == x.shape
    changed = torch.where(mask[..., None], context, torch.randn_like(context) * 10)
    assert torch.allclose(out, model(x, t, changed, mask, pooled), atol=1e-5)
    assert (out - model(x, t, context + torch.randn_like(context), mask, pooled)).abs().max() > 1e-3
    assert torch.equal(model(x, t, None, None, None), model(x, t, None, None, None))  # the unconditional path


def test_a_context_longer_than_the_table_is_refused():
    with pytest.raises(ValueError, match="longer than the refiner's max_length 4"):
        ContextRefiner(12, dim=16, max_length=4)(torch.randn(1, 6, 12))
