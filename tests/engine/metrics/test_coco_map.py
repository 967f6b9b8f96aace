"""COCO mAP through pycocotools: perfect and degraded predictions, quiet stdout."""

from __future__ import annotations

import copy
import logging

import pytest

from mammorcnn.engine.metrics.coco_map import STAT_NAMES, coco_map


def test_perfect_predictions_give_map_one(perfect_predictions, tiny_gt, capsys, caplog) -> None:
    preds = perfect_predictions(tiny_gt)
    with caplog.at_level(logging.DEBUG, logger="mammorcnn.engine.metrics.coco_map"):
        bbox = coco_map(tiny_gt, preds, "bbox")
        segm = coco_map(tiny_gt, preds, "segm")
    assert capsys.readouterr().out == ""  # pycocotools' prints went to the logger
    assert "Average Precision" in caplog.text
    for metrics in (bbox, segm):
        assert set(metrics.stats) == set(STAT_NAMES)
        assert metrics.stats["AP"] == pytest.approx(1.0)
        assert metrics.stats["AP50"] == pytest.approx(1.0)
        assert metrics.stats["AR100"] == pytest.approx(1.0)
        assert metrics.stats["APl"] is None  # no large lesions: COCOeval's -1
        assert metrics.precision50[0] == pytest.approx(1.0)
    assert segm.to_dict()["pr_curve"]["precision_iou50"][-1] == pytest.approx(1.0)


def test_half_the_lesions_found(perfect_predictions, tiny_gt) -> None:
    # Only lesion 3 predicted: recall 1/3; AP = mean over 101 recall points of precision 1
    # up to recall 1/3, i.e. 34/101.
    preds = [p for p in perfect_predictions(tiny_gt) if p["image_id"] == 2]
    bbox = coco_map(tiny_gt, preds, "bbox")
    assert bbox.stats["AP50"] == pytest.approx(34 / 101)
    assert bbox.stats["AR100"] == pytest.approx(1 / 3)


def test_shifted_box_fails_at_high_iou(perfect_predictions, tiny_gt) -> None:
    preds = perfect_predictions(tiny_gt)
    for p in preds:
        x, y, w, h = p["bbox"]
        p["bbox"] = [x + 0.2 * w, y, w, h]  # IoU = 0.8 / 1.2 = 0.667
    m = coco_map(tiny_gt, preds, "bbox")
    assert m.stats["AP50"] == pytest.approx(1.0)
    assert m.stats["AP75"] == pytest.approx(0.0)


def test_undefined_cases(perfect_predictions, tiny_gt) -> None:
    assert coco_map(tiny_gt, [], "bbox").stats["AP"] == 0.0
    box_only = [{k: v for k, v in p.items() if k != "segmentation"} for p in
                perfect_predictions(tiny_gt)]  # fmt: skip
    assert coco_map(tiny_gt, box_only, "segm") is None
    no_anns = copy.deepcopy(tiny_gt)
    no_anns["annotations"] = []
    assert coco_map(no_anns, box_only, "bbox") is None


def test_box_only_lesions_are_ignored_for_masks(perfect_predictions, tiny_gt) -> None:
    gt = copy.deepcopy(tiny_gt)
    del gt["annotations"][1]["segmentation"]
    preds = perfect_predictions(tiny_gt)
    m = coco_map(gt, preds, "segm")
    assert m.stats["AP"] == pytest.approx(1.0)
