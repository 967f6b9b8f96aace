"""`--score-calibration` from evaluate and predict: a calibrated checkpoint's scores are
1 / (1 + F(raw)) unless turned off, recorded in the settings; an uncalibrated checkpoint, saved
results and an operating point of the other scale are refused with exit 2. The map itself:
tests/engine/inference/test_score_calibration.py; the fit: tests/engine/test_calibrate.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import make_checkpoint


def _results(folder: Path) -> list[dict]:
    return json.loads((folder / "predictions.json").read_text())["results"]


def test_calibrated_checkpoint_scores_and_refusals(cli, phantoms: Path, tmp_path: Path) -> None:
    from mammorcnn.engine.calibrate import calibrate_weights
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions

    raw_weights = make_checkpoint(tmp_path / "raw.safetensors")
    weights = tmp_path / "calibrated.safetensors"
    shutil.copy(raw_weights, weights)
    calibration = calibrate_weights(weights, phantoms, DatasetRunOptions(device="cpu"), False)
    base = ["evaluate", "--device", "cpu", "--data", phantoms, "--no-html", "--bootstrap", "10"]

    on = cli(*base, "--weights", weights, "--out", tmp_path / "on")
    off = cli(*base, "--weights", weights, "--no-score-calibration", "--out", tmp_path / "off")
    assert on.code == 0 and off.code == 0, on.err + off.err
    raw, calibrated = _results(tmp_path / "off"), _results(tmp_path / "on")
    assert [r["bbox"] for r in calibrated] == [r["bbox"] for r in raw]
    expected = 1 / (1 + calibration.classes["mass"].rate(np.array([r["score"] for r in raw])))
    assert [r["score"] for r in calibrated] == pytest.approx(expected.tolist(), abs=5e-3)
    settings = json.loads((tmp_path / "on" / "predictions.json").read_text())["settings"]
    assert settings["score_calibration"] is True
    assert (
        "score_calibration"
        not in json.loads((tmp_path / "off" / "predictions.json").read_text())["settings"]
    )
    # one model's FROC is the same on either scale
    froc = [json.loads((tmp_path / d / "report.json").read_text())["froc"] for d in ("on", "off")]
    assert froc[0]["sensitivities"] == froc[1]["sensitivities"]

    missing = cli(*base, "--weights", raw_weights, "--score-calibration")
    assert missing.code == 2 and "raw.safetensors" in missing.err
    assert "no score calibration" in missing.err
    saved = cli(*base, "--results", tmp_path / "off" / "predictions.json", "--score-calibration")
    assert saved.code == 2 and "--score-calibration" in saved.err
    # a threshold measured on raw scores is not applied to calibrated ones
    report = tmp_path / "off" / "report.json"
    images = [phantoms.parent / i["file_name"] for i in json.loads(phantoms.read_text())["images"]]
    predict = ["predict", "--weights", weights, "--device", "cpu", images[0], "--out"]
    mixed = cli(*predict, tmp_path / "p", "--operating-point", report)
    assert mixed.code == 2 and "score calibration" in mixed.err
    same = cli(*predict, tmp_path / "q", "--operating-point", report, "--no-score-calibration")
    assert same.code == 0, same.err


def test_calibrate_command_writes_the_calibration_into_a_run_folder(
    cli, phantoms: Path, tmp_path: Path
) -> None:
    from mammorcnn.engine.checkpoint import load_weights
    from mammorcnn.engine.inference.score_calibration import METADATA_KEY, ScoreCalibration

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    best = make_checkpoint(run / "checkpoints" / "best.safetensors")
    done = cli("calibrate", "--weights", run, "--data", phantoms, "--device", "cpu")
    assert done.code == 0, done.err
    assert "best.safetensors: scores calibrated on the 4 image(s)" in done.out
    assert "mass:" in done.out
    calibration = ScoreCalibration.from_metadata(load_weights(best)[1][METADATA_KEY], best)
    assert calibration.n_images == 4
    before = best.read_bytes()
    bad = cli("calibrate", "--weights", run, "--data", tmp_path / "missing.json")
    assert bad.code == 2 and "missing.json" in bad.err
    assert best.read_bytes() == before  # a failed calibration leaves the weights as they were
