"""The score threshold of an FROC operating point, read back from a written report.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mammorcnn.engine.metrics import evaluate_predictions
from mammorcnn.engine.metrics.operating_point import threshold_from_report
from mammorcnn.errors import InputError


def box(cx: float, cy: float) -> list[float]:
    return [cx - 2, cy - 2, 4, 4]  # COCO x, y, w, h


@pytest.fixture
def report_path(tiny_gt: dict, tmp_path: Path) -> Path:
    """3 images, 3 lesions. By score: .9 FP (normal image), .8 hit A, .6 hit C, .5 FP, .3 hit B,
    so the FP rate is 1/3 from .9 down to .6 and 2/3 from .5 down."""
    results = [
        {"image_id": 7, "category_id": 1, "bbox": box(40, 30), "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": box(20, 18), "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": box(30, 30), "score": 0.6},
        {"image_id": 1, "category_id": 1, "bbox": box(70, 55), "score": 0.5},
        {"image_id": 1, "category_id": 1, "bbox": box(54, 35), "score": 0.3},
    ]
    report = evaluate_predictions(tiny_gt, results)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def test_threshold_is_the_lowest_score_within_the_rate(report_path: Path) -> None:
    assert threshold_from_report(report_path, 0.5) == pytest.approx(0.6)  # 1/3 FP/image
    assert threshold_from_report(report_path, 1.0) == pytest.approx(0.3)  # every detection
    assert threshold_from_report(report_path, 1) == pytest.approx(0.3)  # an int rate too


def test_a_rate_no_threshold_reaches_is_refused(report_path: Path) -> None:
    with pytest.raises(InputError, match="best-scored detection was a false positive"):
        threshold_from_report(report_path, 0.25)  # the top score is a false positive


def test_a_rate_the_report_does_not_list_is_refused(report_path: Path) -> None:
    with pytest.raises(InputError, match=r"report.json: no operating point at 0.7 FP/image"):
        threshold_from_report(report_path, 0.7)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('{"froc": {"fp_rates": [1.0]}}', "not an evaluation report"),
        ("[1, 2]", "not an evaluation report"),
        (
            '{"froc": {"fp_rates": [1.0, 2.0], "thresholds": [0.5]}}',
            "froc.fp_rates and froc.thresholds differ",
        ),
    ],
)
def test_bad_reports_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=f"bad.json: {problem}"):
        threshold_from_report(path, 1.0)
    with pytest.raises(InputError, match="missing.json: no such report file"):
        threshold_from_report(tmp_path / "missing.json", 1.0)


def test_scoring_settings_fill_what_a_predictions_file_leaves_out() -> None:
    from mammorcnn.engine.metrics.operating_point import scoring_of_files, scoring_settings

    plain = scoring_settings({"score_threshold": 0.0, "max_detections": None})
    assert plain == {
        "test_time_flip": False,
        "test_time_scales": [1.0],
        "nested_thresh": None,
        "rank_decay": 1.0,
        "pectoral_weight": 0.0,
        "contralateral": None,
        "ensemble_members": 0,
        "score_calibration": False,
    }
    made = {"test_time_flip": True, "rank_decay": 0.7, "ensemble": ["a", "b"]}
    made |= {"pectoral_weight": 1.0, "score_calibration": True}
    assert scoring_settings(made) == plain | {
        "test_time_flip": True,
        "rank_decay": 0.7,
        "pectoral_weight": 1.0,
        "ensemble_members": 2,
        "score_calibration": True,
    }
    assert scoring_of_files({Path("a"): made, Path("b"): dict(made)})["rank_decay"] == 0.7
    assert scoring_of_files({Path("a"): made, Path("b"): {}}) is None  # folds disagree
    assert scoring_of_files({}) is None  # bare COCO lists say nothing


def test_report_scoring_is_checked_key_by_key(tiny_gt: dict, tmp_path: Path) -> None:
    from mammorcnn.engine.metrics.operating_point import check_report_scoring, scoring_settings

    measured = scoring_settings(
        {"nested_thresh": 0.5, "contralateral": {"weight": 0.5, "radius": 1}}
    )
    report = evaluate_predictions(tiny_gt, [], scoring=measured)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert check_report_scoring(path, dict(measured)) is True
    with pytest.raises(InputError) as error:
        check_report_scoring(path, measured | {"contralateral": None})
    assert str(error.value).startswith(str(path))
    assert "measured with contralateral rule {'weight': 0.5, 'radius': 1}" in str(error.value)
    assert "this run has contralateral rule off" in str(error.value)
    del report["scoring"]
    path.write_text(json.dumps(report))
    assert check_report_scoring(path, measured) is False  # an older report: cannot tell
