"""The combined evaluation report, its files and its table."""

from __future__ import annotations

import json

import pytest

from mammorcnn.engine.metrics.report import evaluate_predictions, format_report
from mammorcnn.errors import AnnotationError


def test_perfect_predictions_report(perfect_predictions, tiny_gt, tmp_path) -> None:
    preds = perfect_predictions(tiny_gt)
    # One false positive on the normal image, scored below the true lesions.
    preds.append({"image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.2})
    report = evaluate_predictions(tiny_gt, preds, out_dir=tmp_path / "eval")
    froc = report["froc"]
    assert froc["sensitivities"] == [1.0] * 6
    assert froc["thresholds"][0] == pytest.approx(0.9)  # the FP enters only below 0.9
    assert froc["curve"]["fp_per_image"][-1] == pytest.approx(1 / 3)
    assert report["coco"]["bbox"]["AP"] == pytest.approx(1.0)
    assert report["coco"]["segm"]["AP"] == pytest.approx(1.0)
    assert report["dice"]["n_detected"] == 3 and report["dice"]["mean_dice"] == pytest.approx(1)
    assert report["dice"]["score_threshold"] == pytest.approx(0.2)  # the 1 FP/image point
    out = tmp_path / "eval"
    assert json.loads((out / "report.json").read_text()) == report
    for png in ("froc.png", "pr_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["froc.png", "pr_curve.png", "report.json"]
    table = format_report(report)
    assert "1.000" in table and "bbox" in table and "segm" in table
    assert "3 images, 3 lesions, 4 predictions" in table


def test_nothing_predicted(tiny_gt) -> None:
    report = evaluate_predictions(tiny_gt, [], hit_rule="iou:0.3", fp_rates=[1.0])
    assert report["froc"]["sensitivities"] == [0.0]
    assert report["coco"]["bbox"]["AP"] == 0.0
    assert report["coco"]["segm"] is None
    assert report["dice"]["n_detected"] == 0 and report["dice"]["mean_dice"] is None
    assert report["hit_rule"]["kind"] == "iou"
    assert "n/a" in format_report(report)
    json.dumps(report, allow_nan=False)


def test_bad_results_file_is_named(tiny_gt, tmp_path) -> None:
    preds = [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]
    with pytest.raises(AnnotationError, match="^results.json: "):
        evaluate_predictions(tiny_gt, preds, predictions_source="results.json", out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
