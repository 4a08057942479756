"""Hub loader, run offline on a parquet dataset in tmp_path that `load_dataset` reads like a hub repo."""
import datasets
import huggingface_hub.constants
import numpy as np
import pytest
from PIL import Image

from data.hub import HubDatasetUnavailable, load_hub

NAMES = ["red_fox", "green", "blue"]
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _write_parquet(root, columns: dict, features: datasets.Features):
    (root / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(root / "data" / "train-00000.parquet"))
    return str(root)


@pytest.fixture
def labelled(tmp_path):
    """Six non-square RGB images, each one solid colour that encodes its ClassLabel."""
    labels = [0, 1, 2, 2, 1, 0]
    images = [Image.new("RGB", (40, 30), COLOURS[label]) for label in labels]
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=NAMES)})
    return _write_parquet(tmp_path / "labelled", {"img": images, "label": labels}, features), labels


def test_class_labels_fill_every_template_and_match_the_images(labelled, tmp_path):
    path, labels = labelled
    templates = ("a photo of a {label}", "a {label} square")
    data = load_hub(path, image_column="img", caption_templates=templates, image_size=16,
                    cache_dir=str(tmp_path / "cache"))
    assert data.images.shape == (6, 3, 16, 16)
    for image, caps, label in zip(data.images, data.captions, labels):
        name = NAMES[label].replace("_", " ")
        assert caps == (f"a photo of a {name}", f"a {name} square")
        assert image[:, 8, 8].tolist() == list(COLOURS[label])


def test_grayscale_and_max_images(labelled, tmp_path):
    path, labels = labelled
    data = load_hub(path, image_column="img", channels=1, image_size=8, max_images=4,
                    cache_dir=str(tmp_path / "cache"))
    assert data.images.shape == (4, 1, 8, 8)
    expected = [round(np.asarray(Image.new("RGB", (1, 1), COLOURS[label]).convert("L"))[0, 0]) for label in labels[:4]]
    assert data.images[:, 0, 0, 0].tolist() == expected


def test_caption_column_keeps_strings_and_lists_of_paraphrases(tmp_path):
    images = [Image.new("L", (20, 20), v) for v in (0, 128)]
    columns = {"image": images, "title": ["dark", "grey"], "text": [["a dark square"], ["grey", "a grey square"]]}
    features = datasets.Features({"image": datasets.Image(), "title": datasets.Value("string"),
                                  "text": datasets.List(datasets.Value("string"))})
    path = _write_parquet(tmp_path / "captioned", columns, features)
    cache_dir = str(tmp_path / "cache")
    data = load_hub(path, caption_column="text", channels=1, image_size=4, cache_dir=cache_dir)
    assert data.captions == [("a dark square",), ("grey", "a grey square")]
    assert data.images[1].unique().tolist() == [128]
    assert load_hub(path, caption_column="title", image_size=4, cache_dir=cache_dir).captions == [("dark",), ("grey",)]


def test_a_save_to_disk_folder_loads_like_a_hub_dataset(tmp_path):
    images = [Image.new("RGB", (8, 8), colour) for colour in COLOURS]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=NAMES)})
    test = datasets.Dataset.from_dict({"image": images, "label": [0, 1, 2]}, features=features)
    datasets.DatasetDict({"test": test}).save_to_disk(str(tmp_path / "saved"))
    data = load_hub(str(tmp_path / "saved"), split="test", caption_templates=("{label}",), image_size=8)
    assert data.captions == [("red fox",), ("green",), ("blue",)]
    assert data.images[:, :, 0, 0].tolist() == [list(c) for c in COLOURS]


def test_wrong_column_names_the_column_and_lists_the_real_ones(labelled, tmp_path):
    path, _ = labelled
    with pytest.raises(ValueError, match=r"'image' not in dataset.*\['img', 'label'\]"):
        load_hub(path, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="'caption' not in dataset"):
        load_hub(path, image_column="img", caption_column="caption", cache_dir=str(tmp_path / "cache"))


def test_templates_without_a_label_slot_are_rejected(labelled, tmp_path):
    path, _ = labelled
    with pytest.raises(ValueError, match="label"):
        load_hub(path, image_column="img", caption_templates=("a photo",), cache_dir=str(tmp_path / "cache"))


def test_unreachable_hub_dataset_raises_one_clear_line(monkeypatch, tmp_path):
    # The libraries read HF_HUB_OFFLINE at import, so patch their constants as well as the environment.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubDatasetUnavailable) as info:
        load_hub("nonexistent-user/nonexistent-dataset", cache_dir=str(tmp_path / "cache"))
    message = str(info.value)
    assert "\n" not in message
    assert "nonexistent-user/nonexistent-dataset" in message and "imagefolder" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value, RuntimeError)
