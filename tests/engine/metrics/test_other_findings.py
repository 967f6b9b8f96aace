"""evaluate's second FROC: without the images a converter marked has_other_findings (their
only findings are of unselected types), against sensitivities worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

from mammorcnn.engine.metrics import HitRule, evaluate_predictions
from mammorcnn.engine.metrics.other_findings import (
    REPORT_KEY,
    add_other_findings_froc,
    froc_without_other_findings,
    other_findings_only,
)


def _square(x: float, y: float, s: float) -> list[list[float]]:
    return [[x, y, x + s, y, x + s, y + s, x, y + s]]


GT = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 100, "height": 100},
        {"id": 2, "file_name": "b.png", "width": 100, "height": 100},  # normal
        {"id": 3, "file_name": "c.png", "width": 100, "height": 100,
         "has_other_findings": ["architectural_distortion"]},
        {"id": 4, "file_name": "d.png", "width": 100, "height": 100,
         "has_other_findings": ["calcification"]},  # also holds a mass: kept
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
         "segmentation": _square(10, 10, 20), "area": 400, "iscrowd": 0},
        {"id": 2, "image_id": 4, "category_id": 1, "bbox": [60, 60, 20, 20],
         "segmentation": _square(60, 60, 20), "area": 400, "iscrowd": 0},
    ],
    "categories": [{"id": 1, "name": "mass"}],
}  # fmt: skip
PREDICTIONS = [
    {"image_id": 3, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.95},  # the distortion
    {"image_id": 1, "category_id": 1, "bbox": [12, 12, 16, 16], "score": 0.9},  # hit
    {"image_id": 4, "category_id": 1, "bbox": [62, 62, 16, 16], "score": 0.85},  # hit
    {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.3},  # FP
]


def test_froc_with_and_without_other_findings_images(tmp_path: Path) -> None:
    assert other_findings_only(GT) == {3}
    rule = HitRule()
    report = evaluate_predictions(GT, PREDICTIONS, rule, out_dir=tmp_path)
    # all 4 images: the distortion's 0.95 FP comes first (1/4 FP per image, no lesion found),
    # then both lesions (0.25 FP), then the normal image's FP (0.5)
    assert report["froc"]["sensitivities"] == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    text = add_other_findings_froc(report, GT, PREDICTIONS, rule, tmp_path)
    # without image 3: both lesions at 0 FP; the normal image's FP is 1/3 per image
    assert report[REPORT_KEY]["sensitivities"] == [1.0] * 6
    assert report[REPORT_KEY]["n_images"] == 3 and report[REPORT_KEY]["n_images_left_out"] == 1
    assert report[REPORT_KEY]["curve"]["fp_per_image"] == [0.0, 0.0, 0.0, 1 / 3]
    assert json.loads((tmp_path / "report.json").read_text())[REPORT_KEY]["n_images"] == 3
    assert text is not None and "without the 1 image(s)" in text
    assert text.splitlines()[-1].startswith("  sensitivity   1.000")


def test_nothing_marked_nothing_added() -> None:
    plain = {**GT, "images": [{k: v for k, v in i.items() if k != "has_other_findings"}
                              for i in GT["images"]]}  # fmt: skip
    report = evaluate_predictions(plain, PREDICTIONS, HitRule())
    assert add_other_findings_froc(report, plain, PREDICTIONS, HitRule()) is None
    assert REPORT_KEY not in report
    assert froc_without_other_findings(plain, PREDICTIONS, HitRule()) is None
