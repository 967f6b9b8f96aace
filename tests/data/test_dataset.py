"""CocoMammoDataset: model inputs per the interface, the disk cache, and bad images."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mammorcnn.data.dataset as dataset_module
from mammorcnn.data import CocoMammoDataset, DataConfig, PreprocessConfig, collate_fn
from mammorcnn.data.coco import mask_to_rle
from mammorcnn.errors import AnnotationError, ImageReadError

S = 64


def _config(tmp: Path, **preprocess) -> DataConfig:
    return DataConfig(preprocess=PreprocessConfig(image_size=S, **preprocess), cache_dir=str(tmp))


def _write_image(path: Path, side: str = "left", shape=(200, 120)) -> np.ndarray:
    """16-bit PNG 'mammogram': half-ellipse breast against ``side``."""
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    wall = 0 if side == "left" else width - 1
    inside = ((yy - height / 2) / (0.4 * height)) ** 2 + ((xx - wall) / (0.7 * width)) ** 2 < 1
    pixels = np.where(inside, 20000 + 100 * (xx % 17), 500).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.fixture
def small_coco(tmp_path) -> Path:
    """Two images: a polygon/RLE mass on a left breast, a box-only finding on a right one
    whose laterality comes only from the annotation; categories 3 and 7."""
    _write_image(tmp_path / "img" / "a.png", "left")
    _write_image(tmp_path / "img" / "b.png", "right")
    mask = np.zeros((200, 120), np.uint8)
    mask[80:110, 20:50] = 1
    coco = {
        "images": [
            {"id": 11, "file_name": "img/a.png", "width": 120, "height": 200},
            {"id": 12, "file_name": "img/b.png", "width": 120, "height": 200, "laterality": "R"},
        ],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 7, "bbox": [20, 80, 30, 30],
             "segmentation": mask_to_rle(mask), "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [10, 60, 10, 8],
             "segmentation": [[10, 60, 20, 60, 20, 68, 10, 68]], "iscrowd": 0},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [80, 90, 20, 16],
             "mammorcnn_box_only": True},
        ],
        "categories": [{"id": 7, "name": "malignant"}, {"id": 3, "name": "benign"}],
    }  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    return path


def test_items_follow_the_interface(small_coco, tmp_path):
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"), train=False)
    assert len(ds) == 2 and ds.category_ids == [3, 7]
    for index in range(2):
        image, target = ds[index]
        assert image.shape == (1, S, S) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
        n = len(target["labels"])
        assert target["boxes"].shape == (n, 4) and target["boxes"].dtype == torch.float32
        assert target["labels"].dtype == torch.int64
        assert target["masks"].shape == (n, S, S) and target["masks"].dtype == torch.uint8
        assert target["mask_valid"].shape == (n,) and target["mask_valid"].dtype == torch.bool
        assert target["image_id"] == ds.image_info(index)["id"]
        # each box agrees with its mask to below one model pixel
        for box, mask in zip(target["boxes"], target["masks"]):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            tight = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
            assert (box - tight).abs().max() < 1
    _, first = ds[0]
    assert first["labels"].tolist() == [2, 1]  # category 7 -> label 2, category 3 -> label 1
    assert first["mask_valid"].tolist() == [True, True]
    record = ds.record(0)
    x, y, w, h = 20, 80, 30, 30
    expected = record.boxes_to_model(np.array([[x, y, x + w, y + h]], dtype=np.float64))
    np.testing.assert_allclose(first["boxes"][0].numpy(), expected[0], atol=1e-4)


def test_box_only_and_annotation_laterality(small_coco, tmp_path):
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"), train=False)
    _, target = ds[1]
    assert target["mask_valid"].tolist() == [False]
    record = ds.record(1)
    assert record.flipped and record.orientation_source == "annotation"
    assert ds.meta(1)["laterality_source"] == "annotation"
    box = record.boxes_to_model(np.array([[80.0, 90, 100, 106]]))[0]
    np.testing.assert_allclose(target["boxes"][0].numpy(), box, atol=1e-4)


def test_cache_hit_on_second_epoch(small_coco, tmp_path, monkeypatch):
    calls = []
    real_read = dataset_module.read_image
    monkeypatch.setattr(dataset_module, "read_image", lambda p: calls.append(p) or real_read(p))
    config = _config(tmp_path / "cache")
    first = [CocoMammoDataset(small_coco, config)[i] for i in range(2)]
    assert len(calls) == 2
    ds = CocoMammoDataset(small_coco, config)  # a new dataset: as in a new run or epoch
    second = [ds[i] for i in range(2)]
    assert len(calls) == 2 and ds.cache.hits == 2 and ds.cache.misses == 0
    for (a, ta), (b, tb) in zip(first, second):
        assert torch.equal(a, b) and torch.equal(ta["masks"], tb["masks"])


def test_preprocessed_reads_the_cache_once_and_matches_the_item(small_coco, tmp_path):
    config = _config(tmp_path / "cache")
    CocoMammoDataset(small_coco, config).prepare()  # fill the cache
    ds = CocoMammoDataset(small_coco, config)
    image, record = ds.preprocessed(1)
    assert ds.cache.hits == 1  # dataset[i] followed by record(i) costs two reads
    tensor, _ = ds[1]
    np.testing.assert_array_equal(image, tensor[0].numpy())
    assert record.to_dict() == ds.record(1).to_dict()


def test_cache_key_follows_settings_and_file(small_coco, tmp_path):
    config = _config(tmp_path / "cache")
    CocoMammoDataset(small_coco, config)[0]
    other = CocoMammoDataset(small_coco, _config(tmp_path / "cache", margin=0.1))
    other[0]
    assert other.cache.misses == 1  # other settings: other entry
    image_file = small_coco.parent / "img" / "a.png"
    _write_image(image_file, "left", shape=(200, 120))
    stat = image_file.stat()
    os.utime(image_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = CocoMammoDataset(small_coco, config)
    again[0]
    assert again.cache.misses == 1 and again.cache.hits == 0  # the file changed


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty"])
def test_corrupt_cache_entry_is_recomputed(small_coco, tmp_path, damage):
    config = _config(tmp_path / "cache")
    expected, _ = CocoMammoDataset(small_coco, config)[0]
    (entry,) = [p for p in (tmp_path / "cache").rglob("*.npz")]
    data = entry.read_bytes()
    entry.write_bytes(
        {"garbage": b"x" * len(data), "truncate": data[: len(data) // 2], "empty": b""}[damage]
    )
    ds = CocoMammoDataset(small_coco, config)
    with pytest.warns(UserWarning, match="corrupt cache entry"):
        image, _ = ds[0]
    assert torch.equal(image, expected)
    assert ds.cache.hits == 0
    fresh = CocoMammoDataset(small_coco, config)
    fresh[0]
    assert fresh.cache.hits == 1  # rewritten


def test_no_temporary_files_left_in_cache(small_coco, tmp_path):
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"))
    for i in range(len(ds)):
        ds[i]
    names = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(names) == 2 and all(n.endswith(".npz") for n in names)


def test_train_augments_eval_does_not(small_coco, tmp_path):
    config = _config(tmp_path / "cache")
    evaluation = CocoMammoDataset(small_coco, config, train=False)
    training = CocoMammoDataset(small_coco, config, train=True)
    assert evaluation.augment is None and training.augment is not None
    base, _ = evaluation[0]
    assert torch.equal(base, evaluation[0][0])
    torch.manual_seed(0)
    differs = any(not torch.equal(training[0][0], base) for _ in range(5))
    assert differs


def test_dataset_pickles_for_spawned_workers(small_coco, tmp_path):
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"), train=True)
    again = pickle.loads(pickle.dumps(ds))
    assert len(again) == 2 and again[0][0].shape == (1, S, S)


def test_collate_fn(small_coco, tmp_path):
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"))
    images, targets = collate_fn([ds[0], ds[1]])
    assert isinstance(images, list) and isinstance(targets, list)
    assert len(images) == len(targets) == 2 and targets[1]["image_id"] == 12


def test_size_mismatch_between_entry_and_file(small_coco, tmp_path):
    _write_image(small_coco.parent / "img" / "a.png", "left", shape=(150, 120))
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"))
    with pytest.raises(AnnotationError, match="is 150x120 pixels but its entry says 200x120"):
        ds[0]


def test_unreadable_image_raises_or_is_skipped(small_coco, tmp_path):
    (small_coco.parent / "img" / "b.png").write_bytes(b"not a png at all")
    ds = CocoMammoDataset(small_coco, _config(tmp_path / "cache"))
    with pytest.raises(ImageReadError, match="b.png: not an image file"):
        ds[1]
    with pytest.raises(ImageReadError):
        ds.prepare()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        skipped = ds.prepare(skip_bad=True)
    assert len(ds) == 1 and ds.image_info(0)["id"] == 11
    assert [s["id"] for s in skipped] == [12] and "not an image file" in skipped[0]["problem"]
    assert ds.skipped == skipped


def test_phantom_dataset_end_to_end(tmp_path):
    from mammorcnn.data import generate_phantom_dataset

    annotations = generate_phantom_dataset(tmp_path / "ph", n_images=2, seed=3, image_size=128)
    ds = CocoMammoDataset(annotations, _config(tmp_path / "cache"), train=True)
    for index in range(len(ds)):
        image, target = ds[index]
        assert image.shape == (1, S, S) and len(target["boxes"]) >= 1
        assert ds.record(index).orientation_source in ("annotation", "content")


def test_has_lesions_follows_the_annotations(tmp_path):
    from mammorcnn.data.synthetic import generate_phantom_dataset

    path = generate_phantom_dataset(tmp_path, 6, seed=0, image_size=96, negative_fraction=0.5)
    dataset = CocoMammoDataset(path, _config(tmp_path))
    coco = json.loads(Path(path).read_text())
    with_anns = {a["image_id"] for a in coco["annotations"] if not a.get("iscrowd", 0)}
    flags = [dataset.has_lesions(i) for i in range(len(dataset))]
    assert flags == [img["id"] in with_anns for img in dataset.images]
    assert True in flags and False in flags


def test_view_from_the_annotation_else_the_file_name(tmp_path):
    for name in ("a_MLO.png", "b_MLO.png", "c.png"):
        _write_image(tmp_path / "img" / name)
    images = [
        {"id": 1, "file_name": "img/a_MLO.png", "width": 120, "height": 200, "view": "CC"},
        {"id": 2, "file_name": "img/b_MLO.png", "width": 120, "height": 200},
        {"id": 3, "file_name": "img/c.png", "width": 120, "height": 200},
    ]
    path = tmp_path / "ann.json"
    path.write_text(
        json.dumps({"images": images, "annotations": [], "categories": [{"id": 1, "name": "mass"}]})
    )
    ds = CocoMammoDataset(path, _config(tmp_path / "cache"), train=False)
    assert [ds.view(i) for i in range(3)] == ["CC", "MLO", None]
