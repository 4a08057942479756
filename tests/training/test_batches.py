import torch

from data.captioned import CaptionedImages
from training.batches import BatchStream, derived_seed


def _stream(p_uncond=0.0, n=10, seed=0):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 2, 2).contiguous()
    captions = [tuple(f"image {i} caption {j}" for j in range(1 + i % 3)) for i in range(n)]
    rows = {c: r + 1 for r, c in enumerate(sorted({c for caps in captions for c in caps}))}
    return BatchStream(CaptionedImages(images, captions), rows, 0, p_uncond, 100, seed, torch.device("cpu")), captions, rows


def _ids(batch):
    return ((batch.x0[:, 0, 0, 0] + 1) * 127.5).round().long()


def test_each_epoch_is_a_permutation_and_epochs_differ():
    stream, _, _ = _stream()
    first, second = stream.indices(0, 10), stream.indices(10, 10)
    assert sorted(first.tolist()) == list(range(10)) and sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)
    assert torch.equal(stream.indices(7, 6), torch.cat([first[7:], second[:3]]))


def test_stream_is_a_pure_function_of_seed_position_and_step():
    a, _, _ = _stream(p_uncond=0.3)
    b, _, _ = _stream(p_uncond=0.3)
    x, y = a.micro_batch(20, 5, 0, 1, 0, 1, 8), b.micro_batch(20, 5, 0, 1, 0, 1, 8)
    for field in ("x0", "rows", "t", "eps"):
        assert torch.equal(getattr(x, field), getattr(y, field))
    assert not torch.equal(a.micro_batch(20, 6, 0, 1, 0, 1, 8).eps, x.eps)
    other, _, _ = _stream(p_uncond=0.3, seed=1)
    assert not torch.equal(other.micro_batch(20, 5, 0, 1, 0, 1, 8).x0, x.x0)


def test_any_split_into_ranks_and_micro_batches_sees_the_same_batch():
    stream, _, _ = _stream(n=16, p_uncond=0.5)
    whole = stream.micro_batch(0, 3, 0, 1, 0, 1, 16)
    parts = [stream.micro_batch(0, 3, r, 2, m, 2, 16) for r in range(2) for m in range(2)]
    for field in ("x0", "rows", "t", "eps"):
        assert torch.equal(torch.cat([getattr(p, field) for p in parts]), getattr(whole, field)), field
    assert sorted(_ids(whole).tolist()) == list(range(16))


def test_captions_are_the_images_own_and_dropout_uses_the_null_row():
    stream, captions, rows = _stream(p_uncond=0.25, n=10)
    by_row = {r: c for c, r in rows.items()}
    dropped = total = 0
    for step in range(200):
        batch = stream.micro_batch(step * 10, step, 0, 1, 0, 1, 10)
        for image, row in zip(_ids(batch).tolist(), batch.rows.tolist()):
            total += 1
            if row == 0:
                dropped += 1
            else:
                assert by_row[row] in captions[image]
    assert 0.2 < dropped / total < 0.3


def test_every_caption_of_an_image_gets_drawn():
    stream, captions, rows = _stream(n=10)
    seen = set()
    for step in range(60):
        seen.update(stream.micro_batch(step * 10, step, 0, 1, 0, 1, 10).rows.tolist())
    assert seen == set(rows.values())


def test_images_are_scaled_to_minus_one_one():
    stream, _, _ = _stream(n=256 // 2)
    x0 = stream.micro_batch(0, 0, 0, 1, 0, 1, 128).x0
    assert x0.min() == -1.0 and x0.max() < 1.0


def test_derived_seeds_do_not_collide_across_parts():
    assert derived_seed(0, 1, 10) != derived_seed(0, 11, 0)
    assert len({derived_seed(0, s, r) for s in range(100) for r in range(8)}) == 800
