"""Training-free binding (generation/binding.py): the compose grammar's roles, Composable Diffusion's sum of
conditional scores, and the attention-loss guides; with a method off, images are bitwise unchanged."""
import dataclasses

import pytest
import torch

from diffusion.guidance import guided_model_fn
from diffusion.schedules import get_schedule
from generation.binding import BindingGuide, attend_excite_loss, composable_model_fn, phrases, syngen_loss, token_roles
from generation.sampling import SamplerSettings, fixed_noise, sample_images
from tests.conftest import text_condition, tiny_unet


def test_roles_follow_the_compose_grammar_through_word_pieces():
    tokens = ["[CLS]", "a", "mage", "##nta", "triangle", "to", "the", "left", "of", "a", "cy", "##an", "circle", "[SEP]"]
    roles = token_roles(tokens)
    assert roles.nouns == [4, 12] and roles.colours == [[2, 3], [10, 11]]
    counting = token_roles(["[CLS]", "three", "green", "triangles", "[SEP]"])
    assert counting.nouns == [3] and counting.colours == [[2]]
    assert phrases("a red circle and a blue square") == ["a red circle", "a blue square"]
    assert phrases("two green triangles") == ["two green triangles"]


def test_composable_with_one_phrase_is_classifier_free_guidance_bitwise_and_with_two_sums_the_scores():
    model = tiny_unet()
    (c1, m1, p1), (c2, m2, p2) = text_condition(2, seed=1), text_condition(2, seed=2)
    uc, um, up = text_condition(1, seed=3)
    cond1, cond2 = dict(context=c1, context_mask=m1, pooled=p1), dict(context=c2, context_mask=m2, pooled=p2)
    uncond = dict(context=uc, context_mask=um, pooled=up)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([5, 30])
    one = composable_model_fn(model, [cond1], uncond, torch.ones(2, 1), 2.0)(x, t)
    assert torch.equal(one, guided_model_fn(model, cond1, uncond, 2.0)(x, t))
    both = composable_model_fn(model, [cond1, cond2], uncond, torch.tensor([[1.0, 1.0], [1.0, 0.0]]), 2.0)(x, t)
    with torch.no_grad():
        e1, e2 = model(x, t, **cond1), model(x, t, **cond2)
        eu = model(x, t, **{k: v.expand(2, *v.shape[1:]) for k, v in uncond.items()})
    assert torch.allclose(both[0], (eu + 2.0 * ((e1 - eu) + (e2 - eu)))[0], atol=1e-5)
    assert torch.allclose(both[1], (eu + 2.0 * (e1 - eu))[1], atol=1e-5)  # a prompt with one phrase: no second term


class _Cache:
    """The slice of EmbeddingCache that sample_images and the guides read, over fixed conditions."""

    def __init__(self, prompts):
        context, mask, pooled = text_condition(len(prompts), length=6, seed=4)
        self.rows = {p: (context[i : i + 1], mask[i : i + 1], pooled[i : i + 1]) for i, p in enumerate(prompts)}
        self.null_row = -1
        self.encoder = type("E", (), {"tokens": staticmethod(lambda p: ["[CLS]", "a", "red", "circle", "a", "blue"])})()

    def add(self, prompts):
        pass

    def embed(self, prompts):
        parts = [torch.cat(items) for items in zip(*(self.rows.get(p, self.rows[next(iter(self.rows))]) for p in prompts))]
        return type("Emb", (), {"as_model_kwargs": lambda s: dict(context=parts[0], context_mask=parts[1], pooled=parts[2])})()

    def lookup(self, rows):
        c, m, p = text_condition(1, length=6, seed=9)
        return type("Emb", (), {"as_model_kwargs": lambda s: dict(context=c, context_mask=m, pooled=p)})()


@pytest.mark.parametrize("method", ["attend_excite", "syngen", "composable"])
def test_a_method_that_does_nothing_leaves_the_images_bitwise(method):
    model, schedule, prompts = tiny_unet(), get_schedule("cosine", 50), ["a red circle", "a blue square"]
    base = SamplerSettings(num_steps=4, guidance_scale=2.0)
    off = dataclasses.replace(base, binding=method, binding_steps=0.0)  # composable: no prompt has " and "
    images = [sample_images(model, schedule, "v", _Cache(prompts), prompts, s, fixed_noise(2, 3, 8, 0, "cpu"))
              for s in (base, off)]
    assert torch.equal(*images)
    moved = dataclasses.replace(base, binding=method, binding_steps=1.0)
    if method != "composable":
        assert not torch.equal(images[0], sample_images(model, schedule, "v", _Cache(prompts), prompts, moved,
                                                        fixed_noise(2, 3, 8, 0, "cpu")))


@pytest.mark.parametrize("loss", [attend_excite_loss, syngen_loss])
def test_a_guide_step_lowers_its_loss_on_the_maps(loss):
    torch.manual_seed(0)
    model, schedule = tiny_unet(), get_schedule("cosine", 50)
    roles = [token_roles(["[CLS]", "a", "red", "circle", "a", "blue", "square"][:6])] * 2
    roles = [type(r)(nouns=[3, 5], colours=[[2], [4]]) for r in roles]
    context, mask, pooled = text_condition(2, length=6, real_tokens=(6, 6), seed=5)
    cond = dict(context=context, context_mask=mask, pooled=pooled)
    settings = SamplerSettings(num_steps=4, binding="attend_excite" if loss is attend_excite_loss else "syngen",
                               binding_steps=1.0, binding_step_size=0.05)
    guide = BindingGuide(settings.binding, model, cond, roles, schedule, settings, "v")
    x = torch.randn(2, 3, 8, 8)
    moved = guide.update(x, 0)
    guide.update(moved, 0)
    assert guide.losses[1] < guide.losses[0]
    assert (moved - x).mean(dim=(-2, -1)).abs().max() < 1e-6  # no tint: each channel's mean is left where it was
