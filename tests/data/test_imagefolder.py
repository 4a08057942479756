"""Image folders: captions stay attached to their files, images are centre-cropped, errors are one line."""
import json

import pytest
import torch
from PIL import Image

from data.imagefolder import load_imagefolder

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}


def _write_folder(root, rows):
    """rows: (file_name, PIL image, caption or list of captions); metadata written in reverse file order."""
    root.mkdir()
    with open(root / "metadata.jsonl", "w") as f:
        for name, image, text in reversed(rows):
            image.save(root / name)
            f.write(json.dumps({"file_name": name, "text": text}) + "\n")
    return str(root)


@pytest.fixture
def folder(tmp_path):
    sizes = [(20, 20), (50, 30), (17, 40), (64, 64)]
    rows = [(f"{i:04d}.png", Image.new("RGB", size, COLOURS[c]), f"a {c} square")
            for i, (c, size) in enumerate(zip(COLOURS, sizes))]
    return _write_folder(tmp_path / "images", rows)


def test_each_caption_belongs_to_its_image(folder, tmp_path):
    data = load_imagefolder(folder, image_size=8, cache_dir=str(tmp_path / "cache"))
    assert data.images.shape == (4, 3, 8, 8) and data.images.dtype == torch.uint8
    seen = set()
    for image, (caption,) in zip(data.images, data.captions):
        colour = caption.split()[1]
        assert image[:, 4, 4].tolist() == list(COLOURS[colour])
        seen.add(colour)
    assert seen == set(COLOURS)


def test_grayscale_and_max_images(folder, tmp_path):
    data = load_imagefolder(folder, image_size=4, channels=1, max_images=2, cache_dir=str(tmp_path / "cache"))
    assert data.images.shape == (2, 1, 4, 4) and len(data.captions) == 2


def test_wide_images_are_centre_cropped_not_squashed(tmp_path):
    stripes = Image.new("RGB", (90, 30), COLOURS["red"])
    stripes.paste(Image.new("RGB", (30, 30), COLOURS["green"]), (30, 0))
    folder = _write_folder(tmp_path / "wide", [("wide.png", stripes, ["green", "a green square"])])
    data = load_imagefolder(folder, image_size=6, cache_dir=str(tmp_path / "cache"))
    assert data.captions == [("green", "a green square")]
    assert (data.images[0] == torch.tensor(COLOURS["green"], dtype=torch.uint8).view(3, 1, 1)).all()


def test_missing_folder_or_metadata_fails_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_imagefolder(str(tmp_path / "nowhere"))
    (tmp_path / "bare").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "bare" / "a.png")
    with pytest.raises(FileNotFoundError, match="metadata.jsonl") as info:
        load_imagefolder(str(tmp_path / "bare"))
    assert "\n" not in str(info.value)


def test_wrong_caption_column_lists_the_columns(folder, tmp_path):
    with pytest.raises(ValueError, match=r"'caption' not in dataset.*'text'"):
        load_imagefolder(folder, caption_column="caption", cache_dir=str(tmp_path / "cache"))
