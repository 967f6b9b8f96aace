"""`predict --operating-point REPORT`: the score threshold of an evaluation's FROC point, so
predict keeps the marks of a known false-positive rate; conflicts and bad reports exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import make_checkpoint


def test_predict_keeps_the_detections_of_the_reports_operating_point(
    cli, phantoms: Path, tmp_path: Path
) -> None:
    weights = make_checkpoint(tmp_path / "untrained.safetensors")  # scores spread over (0, 1)
    common = ["--weights", weights, "--device", "cpu"]
    ev = cli("evaluate", *common, "--data", phantoms, "--out", tmp_path / "ev", "--no-html")
    assert ev.code == 0, ev.err
    froc = json.loads((tmp_path / "ev" / "report.json").read_text())["froc"]
    expected = froc["thresholds"][froc["fp_rates"].index(2.0)]
    evaluated = json.loads((tmp_path / "ev" / "predictions.json").read_text())["results"]
    images = sorted(phantoms.parent.glob("images/*.png"))
    assert len(images) == 4
    report = tmp_path / "ev" / "report.json"
    args = ["predict", *common, *images, "--no-overlay", "--operating-point", report]
    out = tmp_path / "pred"
    result = cli(*args, "--fp-per-image", "2", "--out", out)
    assert result.code == 0, result.err
    assert f"score threshold {expected:.4g}" in result.out
    predicted = json.loads((out / "predictions.json").read_text())
    assert predicted["settings"]["score_threshold"] == expected
    assert predicted["settings"]["operating_point"] == {"report": str(report), "fp_per_image": 2}
    # the same model on the same images: exactly evaluate's detections at or above the point
    kept = sorted(r["score"] for r in evaluated if r["score"] >= expected)
    assert 0 < len(kept) < len(evaluated)
    assert sorted(r["score"] for r in predicted["results"]) == kept

    both = cli(*args, "--score-threshold", "0.3", "--out", tmp_path / "both")
    assert both.code == 2 and "--score-threshold and --operating-point" in both.err
    unlisted = cli(*args, "--fp-per-image", "3", "--out", tmp_path / "unlisted")
    assert unlisted.code == 2 and "report.json: no operating point at 3 FP/image" in unlisted.err
    assert not (tmp_path / "both").exists() and not (tmp_path / "unlisted").exists()
