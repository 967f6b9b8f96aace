"""`predict --operating-point REPORT`: the score threshold of an evaluation's FROC point, so
predict keeps the marks of a known false-positive rate; conflicts and bad reports exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_predict_refuses_a_report_measured_with_other_scoring(
    cli, phantoms: Path, tmp_path: Path
) -> None:
    """A threshold holds for scores made one way: evaluated with a rank decay of 0.5, its
    report is refused by a predict run without it (exit 2, nothing written), accepted with it;
    the report made from saved results rescored with --rank-decay says the same."""
    weights = make_checkpoint(tmp_path / "untrained.safetensors")
    common = ["--weights", weights, "--device", "cpu"]
    ev = cli(
        "evaluate", *common, "--data", phantoms, "--out", tmp_path / "ev", "--no-html",
        "--rank-decay", "0.5",
    )  # fmt: skip
    assert ev.code == 0, ev.err
    report = tmp_path / "ev" / "report.json"
    scoring = json.loads(report.read_text())["scoring"]
    assert scoring["rank_decay"] == 0.5 and scoring["test_time_flip"] is False
    images = sorted(phantoms.parent.glob("images/*.png"))
    args = ["predict", *common, *images, "--no-overlay", "--operating-point", report]
    plain = cli(*args, "--out", tmp_path / "plain")
    assert plain.code == 2, plain.err
    assert "report.json: its thresholds were measured with rank decay 0.5" in plain.err
    assert "this run has rank decay 1.0" in plain.err
    assert not (tmp_path / "plain").exists()
    same = cli(*args, "--rank-decay", "0.5", "--out", tmp_path / "same")
    assert same.code == 0, same.err

    # saved results rescored: the report records the decay the rescoring applied
    plain_ev = cli("evaluate", *common, "--data", phantoms, "--out", tmp_path / "ev0", "--no-html")
    assert plain_ev.code == 0, plain_ev.err
    rescored = cli(
        "evaluate", "--results", tmp_path / "ev0" / "predictions.json", "--data", phantoms,
        "--out", tmp_path / "ev1", "--no-html", "--rank-decay", "0.5",
    )  # fmt: skip
    assert rescored.code == 0, rescored.err
    assert json.loads((tmp_path / "ev1" / "report.json").read_text())["scoring"] == scoring
    flipped = cli(*args, "--rank-decay", "0.5", "--test-time-flip", "--out", tmp_path / "flip")
    assert flipped.code == 2 and "test-time flip False" in flipped.err


def test_predict_warns_on_a_report_that_does_not_say(
    cli, phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reports written before they recorded their scoring still work, with a warning."""
    weights = make_checkpoint(tmp_path / "untrained.safetensors")
    common = ["--weights", weights, "--device", "cpu"]
    ev = cli("evaluate", *common, "--data", phantoms, "--out", tmp_path / "ev", "--no-html")
    assert ev.code == 0, ev.err
    report = tmp_path / "ev" / "report.json"
    old = json.loads(report.read_text())
    del old["scoring"]
    report.write_text(json.dumps(old))
    images = sorted(phantoms.parent.glob("images/*.png"))
    result = cli(
        "predict", *common, *images, "--no-overlay", "--operating-point", report,
        "--out", tmp_path / "pred",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "report.json does not record how its scores were made" in caplog.text
