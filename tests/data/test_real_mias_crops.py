"""The mini-MIAS recipe's data path on real film mammograms: the shipped config loads, and a
lesion crop of a real mass image holds the mass the database's circle marks.

Reads ../shared/data/mini-mias-dev (never copied into the repository); skipped without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mammorcnn.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "mammorcnn" / "configs"


def test_the_recipe_config_loads_with_its_small_set_options() -> None:
    config = load_config(CONFIGS / "mini-mias.yaml")
    assert config.data.augment.crop_size == 192 < config.data.preprocess.image_size
    assert config.train.select == "last" and config.train.lesion_repeat > 1
    assert config.model.backbone.norm == "gn" and config.model.backbone.weights is None
    assert config.model.backbone.name == "resnet34"  # docs/results.md, next runs, item 19
    assert config.model.box_head.pectoral_weight == 1.0  # results.md, "Pectoral muscle"
    assert config.data.augment.paste_prob == 0.5 and config.data.augment.elastic_prob == 0.5
    assert len(config.model.anchors.sizes) * len(config.model.anchors.aspect_ratios) == 15


def test_a_lesion_crop_of_a_real_mass_image_holds_the_mass(
    tmp_path: Path, real_mias_coco: Path
) -> None:
    import json

    from mammorcnn.data import CocoMammoDataset

    coco = json.loads(real_mias_coco.read_text())
    for info in coco["images"]:  # the subset file is written elsewhere
        info["file_name"] = str((real_mias_coco.parent / info["file_name"]).resolve())
    mass_ids = [a["image_id"] for a in coco["annotations"]][:3]
    coco["images"] = [i for i in coco["images"] if i["id"] in mass_ids]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in mass_ids]
    subset = tmp_path / "masses.json"
    subset.write_text(json.dumps(coco))
    config = load_config(CONFIGS / "mini-mias.yaml", [f"data.cache_dir={tmp_path / 'cache'}"])
    config.data.augment.crop_lesion_prob = 1.0
    config.data.augment.rotation_degrees = 0.0
    config.data.augment.scale = (1.0, 1.0)
    config.data.augment.translate = 0.0
    config.data.augment.paste_prob = 0.0  # a pasted second mass is tested in test_paste.py
    config.data.augment.elastic_prob = 0.0  # a warp changes the size (test_elastic.py)
    whole = CocoMammoDataset(subset, config.data, train=False)
    crops = CocoMammoDataset(subset, config.data, train=True)
    side = config.data.augment.crop_size
    for index in range(len(whole)):
        _, target = whole[index]
        (x1, y1, x2, y2) = target["boxes"][0].tolist()
        torch.manual_seed(index)
        image, crop = crops[index]
        assert image.shape == (1, side, side)
        assert len(crop["boxes"]) == 1
        # the mass is whole in the crop when it fits in the crop (flips keep its size)
        if max(x2 - x1, y2 - y1) <= side:
            cx1, cy1, cx2, cy2 = crop["boxes"][0].tolist()
            assert (cx2 - cx1, cy2 - cy1) == pytest.approx((x2 - x1, y2 - y1), abs=1)
            assert int(crop["masks"][0].sum()) == pytest.approx(
                int(target["masks"][0].sum()), rel=0.02
            )
