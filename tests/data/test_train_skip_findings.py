"""data.train_skip_findings: lesion-free images with findings of the listed types leave
training only; evaluation sets keep every image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mammorcnn.data import CocoMammoDataset, DataConfig, PreprocessConfig
from mammorcnn.errors import ConfigError

S = 64


@pytest.fixture
def mixed_coco(tmp_path):
    """Five images: a mass; an asymmetry only; calcifications only; a mass beside an
    asymmetry; a normal film."""
    pixels = np.full((100, 80), 500, np.uint16)
    pixels[10:90, :50] = 20000
    names = ["mass", "asym", "calc", "mass_asym", "normal"]
    others = [[], ["asymmetry"], ["calcification"], ["asymmetry"], []]
    images = []
    for n, (name, other) in enumerate(zip(names, others), start=1):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
        entry = {"id": n, "file_name": f"{name}.png", "width": 80, "height": 100}
        if other:
            entry["has_other_findings"] = other
        images.append(entry)
    annotations = [
        {"id": k, "image_id": image_id, "category_id": 1, "bbox": [20, 40, 12, 12],
         "segmentation": [[20, 40, 32, 40, 32, 52, 20, 52]], "iscrowd": 0, "area": 144}
        for k, image_id in enumerate((1, 4), start=1)
    ]  # fmt: skip
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "mass"}]}  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    return path


def _config(tmp_path, skip):
    preprocess = PreprocessConfig(image_size=S)
    return DataConfig(preprocess=preprocess, cache_dir=str(tmp_path), train_skip_findings=skip)


def test_training_leaves_out_lesion_free_images_with_a_listed_finding(mixed_coco, tmp_path):
    dataset = CocoMammoDataset(mixed_coco, _config(tmp_path, ["asymmetry"]), train=True)
    # the asymmetry-only film leaves; the mass beside an asymmetry stays (its mass is needed),
    # and calcifications were not listed
    assert [info["id"] for info in dataset.images] == [1, 3, 4, 5]
    assert [info["id"] for info in dataset.left_out] == [2]
    assert [dataset.has_lesions(i) for i in range(len(dataset))] == [True, False, True, False]
    ids = [int(dataset[i][1]["image_id"]) for i in range(len(dataset))]
    assert ids == [1, 3, 4, 5]


def test_two_types_and_no_types(mixed_coco, tmp_path):
    both = CocoMammoDataset(
        mixed_coco, _config(tmp_path, ["calcification", "asymmetry"]), train=True
    )
    assert [info["id"] for info in both.images] == [1, 4, 5]
    everything = CocoMammoDataset(mixed_coco, _config(tmp_path, []), train=True)
    assert len(everything) == 5 and everything.left_out == []


def test_evaluation_sets_keep_every_image(mixed_coco, tmp_path):
    dataset = CocoMammoDataset(mixed_coco, _config(tmp_path, ["asymmetry"]), train=False)
    assert len(dataset) == 5 and dataset.left_out == []


@pytest.mark.parametrize("bad", ["asymmetry", [""], [3]])
def test_refuses_what_is_not_a_list_of_types(bad):
    with pytest.raises(ConfigError, match="data.train_skip_findings"):
        DataConfig(train_skip_findings=bad)
