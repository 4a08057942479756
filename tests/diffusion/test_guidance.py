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


def test_guidance_interval_guides_inside_and_runs_the_conditional_model_outside(rng):
    model = tiny_unet(context_injection="both")
    xt, t, cond, uncond = _inputs(rng)  # t = 5, 500, 900
    with torch.no_grad():
        guided = guided_model_fn(model, cond, uncond, guidance_scale=3.0)(xt, t)
        plain = conditional_model_fn(model, cond)(xt, t)
        mixed = guided_model_fn(model, cond, uncond, guidance_scale=3.0, interval=(100, 600))(xt, t)
        everywhere = guided_model_fn(model, cond, uncond, guidance_scale=3.0, interval=(0, 1000))(xt, t)
        nowhere = guided_model_fn(model, cond, uncond, guidance_scale=3.0, interval=(950, 1000))(xt, t)
    assert not torch.allclose(guided, plain, atol=1e-3), "guidance must change the output for this test to mean anything"
    assert torch.equal(everywhere, guided)
    assert torch.allclose(nowhere, plain, atol=1e-5)
    assert torch.allclose(mixed[1], guided[1], atol=1e-5)                        # t = 500: inside
    assert torch.allclose(mixed[[0, 2]], plain[[0, 2]], atol=1e-5)              # t = 5 and 900: outside


def test_guidance_interval_steps_outside_run_one_forward_of_the_batch(rng):
    model = tiny_unet(context_injection="both")
    xt, t, cond, uncond = _inputs(rng)
    batches = []
    model.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    with torch.no_grad():
        model_fn = guided_model_fn(model, cond, uncond, guidance_scale=3.0, interval=(100, 600))
        model_fn(xt, torch.full((3,), 50))
        model_fn(xt, torch.full((3,), 300))
    assert batches == [3, 6]


def test_mismatched_condition_shapes_are_refused(rng):
    _, _, cond, uncond = _inputs(rng)
    uncond["context"] = uncond["context"][:, :3]
    with pytest.raises(ValueError, match="context"):
        guided_model_fn(tiny_unet(), cond, uncond, guidance_scale=2.0)
