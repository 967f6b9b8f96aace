"""fit-anchors: boxes in model-input pixels (through each image's preprocessing record), the
current config compared with the fit, and a YAML snippet a config accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from mammorcnn.config import load_config
from mammorcnn.data import CocoMammoDataset
from mammorcnn.engine.anchor_fit import evaluate_anchors


def test_fit_anchors_on_phantoms(cli, phantoms: Path, tiny_yaml: Path, tmp_path: Path):
    out = tmp_path / "anchors.yaml"
    result = cli("fit-anchors", "--data", phantoms, "--config", tiny_yaml, "--out", out)
    assert result.code == 0, result.err
    snippet = yaml.safe_load(out.read_text())
    anchors = snippet["model"]["anchors"]
    assert len(anchors["sizes"]) == 5 and len(anchors["aspect_ratios"]) == 3
    # The snippet is a valid config fragment.
    fitted = load_config(out, []).model.anchors
    assert list(fitted.sizes) == anchors["sizes"]

    # The boxes, mapped independently: COCO bbox -> record.boxes_to_model (128-px inputs).
    config = load_config(tiny_yaml, [])
    dataset = CocoMammoDataset(phantoms, config.data)
    gt = json.loads(phantoms.read_text())
    wh = []
    for index in range(len(dataset)):
        record = dataset.record(index)
        image_id = dataset.image_info(index)["id"]
        for ann in (a for a in gt["annotations"] if a["image_id"] == image_id):
            x, y, w, h = ann["bbox"]
            box = record.boxes_to_model(np.array([[x, y, x + w, y + h]]))[0].clip(0, 128)
            wh.append(box[2:] - box[:2])
    wh = np.array(wh)
    assert f"{len(wh)} boxes in model-input pixels (128x128)" in result.out
    iou, recall = evaluate_anchors(wh, anchors["sizes"], anchors["aspect_ratios"])
    header = out.read_text().splitlines()[0]
    assert f"mean best IoU {iou:.3f}" in header and f"recall at IoU 0.5 {recall:.3f}" in header
    # Printed side by side with the current (specification) anchors, which fit worse here.
    cur_iou, cur_recall = evaluate_anchors(wh, (4, 7, 8, 10, 12), (1.5, 2.5, 3.6))
    current = next(line for line in result.out.splitlines() if line.startswith("current"))
    assert re.search(rf"{cur_iou:.3f}\s+{cur_recall:.3f}$", current)
    assert iou >= cur_iou
    assert iou == pytest.approx(float(header.split("mean best IoU ")[1].split(",")[0]), abs=5e-4)


def test_fit_anchors_without_boxes(cli, tmp_path: Path, phantoms: Path, tiny_yaml: Path):
    gt = json.loads(phantoms.read_text())
    gt["annotations"] = []
    for image in gt["images"]:
        image["file_name"] = str(phantoms.parent / image["file_name"])
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(gt))
    result = cli("fit-anchors", "--data", empty, "--config", tiny_yaml)
    assert result.code == 2 and "no annotation boxes" in result.err
