"""calibrate_weights: F fitted from the model's own false marks, kept in the weights, applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mammorcnn.engine.calibrate import calibrate_weights, fit_calibration
from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
from mammorcnn.engine.inference.score_calibration import METADATA_KEY, ScoreCalibration
from mammorcnn.errors import ConfigError

from .conftest import make_checkpoint

CPU = DatasetRunOptions(device="cpu")


def _gt() -> dict:
    """Two 100x100 images; image 1 has a mass with box 10..30 (centre hits inside it)."""
    images = [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 100} for i in (1, 2)]
    mass = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400}
    return {"images": images, "annotations": [mass], "categories": [{"id": 1, "name": "mass"}]}


def _mark(image_id: int, x: float, score: float) -> dict:
    return {"image_id": image_id, "category_id": 1, "bbox": [x, x, 10, 10], "score": score}


def test_fit_counts_only_marks_that_hit_nothing() -> None:
    # the 0.8 mark on image 1 is centred in the mass (hit); 0.6 and 0.3 miss; 0.6 on image 2
    results = [_mark(1, 15, 0.8), _mark(1, 60, 0.6), _mark(1, 70, 0.3), _mark(2, 40, 0.6)]
    calibration = fit_calibration(_gt(), results, "gt.json")
    mass = calibration.classes["mass"]
    assert calibration.n_images == 2
    # false marks 0.6, 0.6, 0.3 over 2 images: F(0.6) = 1.0, F(0.3) = 1.5
    assert mass.scores == (1.0, 0.6, 0.3, 0.0)
    assert mass.false_marks == (0.0, 1.0, 1.5, 2.0)


def test_calibrated_weights_give_one_over_one_plus_f_of_the_raw_scores(
    phantoms: Path, tmp_path: Path
) -> None:
    weights = make_checkpoint(tmp_path / "w.safetensors")
    raw, _ = predict_dataset(weights, phantoms, CPU, progress=False)
    before = weights.read_bytes()
    calibration = calibrate_weights(weights, phantoms, CPU, progress=False)
    assert weights.read_bytes() != before
    _, metadata = load_weights(weights)
    assert ScoreCalibration.from_metadata(metadata[METADATA_KEY], weights) == calibration
    # F counts the raw false marks per phantom: at the lowest raw false mark it is their count
    n_images = len(json.loads(phantoms.read_text())["images"])
    assert calibration.n_images == n_images
    mass = calibration.classes["mass"]
    assert mass.false_marks[-2] * n_images == pytest.approx(round(mass.false_marks[-2] * n_images))

    calibrated, _ = predict_dataset(weights, phantoms, CPU, progress=False)
    assert [(r["image_id"], r["bbox"]) for r in calibrated] == [
        (r["image_id"], r["bbox"]) for r in raw
    ]
    # results carry scores rounded to 5 decimals; F is steep (1/4 per false mark) between
    # close raw scores, so the raw file's rounding moves the expectation by up to ~0.003
    expected = 1 / (1 + mass.rate(np.array([r["score"] for r in raw])))
    assert [r["score"] for r in calibrated] == pytest.approx(expected.tolist(), abs=5e-3)
    assert max(r["score"] for r in calibrated) <= 1.0
    order = np.argsort([-r["score"] for r in raw], kind="stable")
    got = np.array([r["score"] for r in calibrated])[order]
    assert np.all(np.diff(got) <= 1e-5)  # the raw ranking, on the new scale
    off = DatasetRunOptions(device="cpu", score_calibration=False)
    again, _ = predict_dataset(weights, phantoms, off, progress=False)
    assert [r["score"] for r in again] == [r["score"] for r in raw]


def test_asking_for_calibration_of_an_uncalibrated_checkpoint_is_refused(
    phantoms: Path, tmp_path: Path
) -> None:
    weights = make_checkpoint(tmp_path / "w.safetensors")
    with pytest.raises(ConfigError, match="no score calibration"):
        predict_dataset(
            weights,
            phantoms,
            DatasetRunOptions(device="cpu", score_calibration=True),
            progress=False,
        )
