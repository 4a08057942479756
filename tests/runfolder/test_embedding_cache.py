import pytest
import torch

from models.text_encoder import minilm
from runfolder.embedding_cache import EmbeddingCache


class CountingEncoder:
    """Wraps a real encoder and counts how many captions it was asked to encode."""

    def __init__(self, encoder):
        self.inner, self.encoded = encoder, []
        self.identity, self.max_length = encoder.identity, encoder.max_length

    def encode(self, captions):
        self.encoded.extend(captions)
        return self.inner.encode(captions)

    def token_count(self, caption):
        return self.inner.token_count(caption)


@pytest.fixture(scope="module")
def encoder():
    return minilm(max_length=12)


def test_each_caption_is_encoded_once_and_lookups_match_direct_encoding(encoder):
    counting = CountingEncoder(encoder)
    cache = EmbeddingCache(counting, batch_size=2)
    rows = cache.rows(["a red circle", "a blue square", "a red circle", "a large green triangle in the center"])
    cache.rows(["a blue square"])
    assert sorted(counting.encoded) == sorted(["", "a red circle", "a blue square", "a large green triangle in the center"])
    assert rows[0] == rows[2] and cache.null_row == 0
    got, direct = cache.lookup(rows[3:]), encoder.encode(["a large green triangle in the center"])
    n = direct.context.shape[1]
    assert torch.allclose(got.context[:, :n], direct.context, atol=1e-4)
    assert torch.equal(got.context_mask[:, :n], direct.context_mask) and not got.context_mask[:, n:].any()
    assert torch.allclose(got.pooled, direct.pooled, atol=1e-5)


def test_disk_cache_round_trip_skips_the_encoder(encoder, tmp_path):
    first = EmbeddingCache(encoder, tmp_path)
    first.rows(["a small cyan square in the top right", "the digit 7"])
    counting = CountingEncoder(encoder)
    second = EmbeddingCache(counting, tmp_path)
    rows = second.rows(["the digit 7", "a small cyan square in the top right"])
    assert counting.encoded == []
    assert torch.equal(second.lookup(rows).context, first.embed(["the digit 7", "a small cyan square in the top right"]).context)


def test_cache_is_keyed_by_max_length(tmp_path):
    EmbeddingCache(minilm(max_length=12), tmp_path).rows(["a caption"])
    other = CountingEncoder(minilm(max_length=6))
    EmbeddingCache(other, tmp_path).rows(["a caption"])
    assert other.encoded == ["", "a caption"]
    assert len(list((tmp_path / "text_embeddings").glob("*.safetensors"))) == 2


def test_corrupt_cache_file_is_rebuilt_with_a_warning(encoder, tmp_path):
    cache = EmbeddingCache(encoder, tmp_path)
    cache.rows(["x"])
    cache.path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        again = EmbeddingCache(encoder, tmp_path)
    assert len(again) == 1 and again.path.stat().st_size > 100


def test_over_long_prompt_warns_once_and_works(encoder):
    cache = EmbeddingCache(encoder)
    with pytest.warns(UserWarning, match="max_length=12"):
        emb = cache.embed(["one two three four five six seven eight nine ten eleven twelve thirteen", "ok"])
    assert emb.context.shape[1] == 12 and emb.context_mask[0].all()


def test_whitespace_and_non_ascii_prompts_work(encoder):
    emb = EmbeddingCache(encoder).embed(["   ", "ein roter Kreis über dem Baum ✓", ""])
    assert torch.isfinite(emb.context).all() and emb.context_mask[:, 0].all()
