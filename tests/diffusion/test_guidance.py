import pytest
import torch

from diffusion.guidance import conditional_model_fn, guided_model_fn
from tests.conftest import text_condition, tiny_unet


def _inputs(rng, batch=3):
    context, mask, pooled = text_condition(batch)
    null_context, null_mask, null_pooled = text_condition(1, real_tokens=(2,), seed=9)
    cond = dict(context=context, context_mask=mask, pooled=pooled)
    uncond = dict(context=null_context, context_mask=null_mask, pooled=null_pooled)
    return torch.randn(batch, 3, 8, 8, generator=rng), torch.tensor([5, 500, 900])[:batch], cond, uncond


def test_scale_one_equals_conditional_prediction(rng):
    model = tiny_unet(context_injection="both")
    xt, t, cond, uncond = _inputs(rng)
    with torch.no_grad():
        guided = guided_model_fn(model, cond, uncond, guidance_scale=1.0)(xt, t)
        plain = conditional_model_fn(model, cond)(xt, t)
    assert torch.allclose(guided, plain, atol=1e-5)


@pytest.mark.parametrize("scale", [0.0, 3.0, 7.5])
def test_batched_guidance_equals_two_separate_forwards(rng, scale):
    model = tiny_unet(context_injection="both")
    xt, t, cond, uncond = _inputs(rng)
    with torch.no_grad():
        guided = guided_model_fn(model, cond, uncond, guidance_scale=scale)(xt, t)
        c = model(xt, t, **cond)
        u = model(xt, t, **{k: v.expand(3, *v.shape[1:]) for k, v in uncond.items()})
    assert not torch.allclose(c, u, atol=1e-3), "the condition must matter for this test to mean anything"
    assert torch.allclose(guided, u + scale * (c - u), atol=1e-5)


def test_guidance_rescale_matches_conditional_std(rng):
    model = tiny_unet(context_injection="both")
    xt, t, cond, uncond = _inputs(rng)
    with torch.no_grad():
        full = guided_model_fn(model, cond, uncond, guidance_scale=5.0, guidance_rescale=1.0)(xt, t)
        half = guided_model_fn(model, cond, uncond, guidance_scale=5.0, guidance_rescale=0.5)(xt, t)
        plain = guided_model_fn(model, cond, uncond, guidance_scale=5.0)(xt, t)
        c = model(xt, t, **cond)
    dims = (1, 2, 3)
    assert torch.allclose(full.std(dim=dims), c.std(dim=dims), atol=1e-5)
    assert torch.allclose(half, 0.5 * full + 0.5 * plain, atol=1e-5)


def test_mismatched_condition_shapes_are_refused(rng):
    _, _, cond, uncond = _inputs(rng)
    uncond["context"] = uncond["context"][:, :3]
    with pytest.raises(ValueError, match="context"):
        guided_model_fn(tiny_unet(), cond, uncond, guidance_scale=2.0)
