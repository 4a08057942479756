"""Uploads are decoded safely: byte and pixel limits before a full decode, one-line errors; PNG round trips."""
import base64
import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from schemas.check import ConfigError
from studio.codec import check_upload_file, decode_image, encode_png, image_tensor, mask_tensor


def png_header_only(width, height):
    """A tiny PNG file that declares a width x height canvas (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_a_png_round_trips_bitwise_through_base64():
    image = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    back = np.asarray(decode_image(encode_png(image)))
    assert np.array_equal(back, image.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("data,message", [
    (b"x" * 2000, "2000 bytes is over the 1000 byte upload limit"),
    (png_header_only(5000, 5000), "5000x5000 pixels is over the 16777216 pixel limit"),
    (png_header_only(100_000, 100_000), "declares over the 16777216 pixel limit"),
    (png_header_only(8, 8), "not an image file PIL can read"),  # a header without the pixels it declares
    (b"GIF89a broken", "not an image file PIL can read"),
    ("not base64!", "not base64 image data"),
])
def test_bad_uploads_are_refused_in_one_line_before_a_full_decode(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        decode_image(data, "image", max_bytes=1000)
    assert "\n" not in str(info.value) and str(info.value).startswith("image: ")


def test_an_image_is_prepared_like_training_data_and_a_mask_must_have_its_size():
    picture = Image.fromarray(np.full((10, 16, 3), 255, np.uint8))
    x = image_tensor(picture, (3, 8))
    assert x.shape == (1, 3, 8, 8) and torch.all(x == 1)
    mask = Image.fromarray(np.full((10, 16), 255, np.uint8))
    assert mask_tensor(mask, picture, 8).all()
    with pytest.raises(ConfigError, match="mask is 4x4 pixels but the image is 16x10"):
        mask_tensor(Image.new("L", (4, 4)), picture, 8)


def test_base64_of_an_upload_is_what_a_spec_carries():
    raw = io.BytesIO()
    Image.new("RGB", (3, 3), "red").save(raw, format="PNG")
    assert decode_image(base64.b64encode(raw.getvalue()).decode()).getpixel((1, 1)) == (255, 0, 0)


def test_a_file_on_disk_is_measured_before_it_is_read(tmp_path, monkeypatch):
    big, bomb = tmp_path / "big.png", tmp_path / "bomb.png"
    big.write_bytes(b"\x89PNG" + b"x" * 5000)
    bomb.write_bytes(png_header_only(13000, 13000))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(ConfigError, match="image: 5004 bytes is over the 1000 byte upload limit"):
        check_upload_file(big, "image", max_bytes=1000)
    with pytest.raises(ConfigError, match="image: 13000x13000 pixels is over the 16777216 pixel limit"):
        check_upload_file(bomb, "image", max_bytes=1000)


def test_base64_text_longer_than_the_limit_is_refused_before_it_is_decoded(monkeypatch):
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ConfigError, match="over the 1000 byte upload limit"):
        decode_image("A" * 4000, "image", max_bytes=1000)


def test_a_result_enlarged_for_the_page_comes_back_exactly_at_the_models_size():
    from studio.ui.common import enlarge
    small = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    shown = enlarge(Image.fromarray(small))
    assert shown.size == (256, 256)
    back = ((image_tensor(shown, (3, 8))[0] + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.array_equal(back.astype(np.uint8), small)
