"""Per-image review at the 1-FP/image point, resampling units, fingerprint, report.json."""

from __future__ import annotations

import copy
import json

import pytest

from mammorcnn.engine.metrics import evaluate_predictions, format_report
from mammorcnn.engine.report.review import ground_truth_fingerprint, image_units


def test_review_records_and_intervals_in_report_json(case, tmp_path) -> None:
    gt, preds = case
    report = evaluate_predictions(gt, preds, out_dir=tmp_path, per_image=True, n_resamples=500)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert report["n_women"] == 3
    ci = report["confidence_intervals"]
    assert (ci["unit"], ci["n_units"], ci["n_resamples"], ci["seed"]) == ("patient_id", 3, 500, 0)
    # sweep: FP 0.95 (1/4 FP per image), TP 0.9, TP 0.8, FP 0.7 (2/4), TP 0.6; one missed
    assert report["froc"]["sensitivities"] == [0, 0.5, 0.75, 0.75, 0.75, 0.75]
    for lo, s, hi in zip(ci["froc"]["lower"], report["froc"]["sensitivities"], ci["froc"]["upper"]):
        assert lo <= s <= hi
    per_image = json.loads((tmp_path / "per_image.json").read_text())
    assert per_image["fingerprint"] == report["ground_truth"]["fingerprint"]
    a, b, c, d = per_image["images"]
    assert (a["n_missed"], a["n_tp"], a["n_fp"]) == (1, 1, 0)
    assert [les["found"] for les in a["lesions"]] == [True, False]
    assert a["lesions"][0]["pathology"] == "malignant" and a["lesions"][1]["best_score"] is None
    assert b["worst_dice"] == pytest.approx(2 / 3)  # half the lesion: IoU 1/2
    assert [m["kind"] for m in b["marks"]] == ["tp", "fp"] and b["max_fp_score"] == 0.7
    assert c["lesions"] == [] and c["max_fp_score"] == 0.95 and c["fp_scores"] == [0.95]
    assert a["unit"] == b["unit"] != c["unit"]
    text = format_report(report)
    assert "of 3 women" in text and "95% CI low" in text and "500 resamples" in text


def test_units_fall_back_to_images() -> None:
    assert image_units([{"id": 1}, {"id": 2}]) == ([0, 1], "image", None)
    units = image_units([{"patient_id": "x"}, {}, {"patient_id": "x"}, {"patient_id": ""}])
    assert units == ([0, 1, 0, 2], "patient_id", 3)


def test_fingerprint_follows_the_lesions_not_the_file_names(case) -> None:
    gt, _ = case
    renamed = copy.deepcopy(gt)
    renamed["images"][0]["file_name"] = "elsewhere/a.png"
    assert ground_truth_fingerprint(renamed) == ground_truth_fingerprint(gt)
    moved = copy.deepcopy(gt)
    moved["annotations"][0]["bbox"][0] += 1
    assert ground_truth_fingerprint(moved) != ground_truth_fingerprint(gt)
    fewer = {**gt, "images": gt["images"][:3]}
    assert ground_truth_fingerprint(fewer) != ground_truth_fingerprint(gt)
