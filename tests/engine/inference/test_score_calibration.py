"""Score calibration: the knots of F, the calibrated score 1 / (1 + F), and its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mammorcnn.engine.inference.score_calibration import MAX_KNOTS, ScoreCalibration, knots
from mammorcnn.errors import CheckpointError


def test_knots_count_false_marks_at_or_above_each_score() -> None:
    # false marks 0.9, 0.5, 0.5, 0.2 over 2 images: F = 0.5 at 0.9, 1.5 at 0.5, 2.0 at 0.2
    c = knots(np.array([0.5, 0.9, 0.2, 0.5]), 2)
    assert c.scores == (1.0, 0.9, 0.5, 0.2, 0.0)
    assert c.false_marks == (0.0, 0.5, 1.5, 2.0, 2.5)
    # linear between knots: 0.7 is halfway from 0.9 (0.5) to 0.5 (1.5)
    assert c.rate(np.array([0.9, 0.7, 0.95, 0.1])) == pytest.approx([0.5, 1.0, 0.25, 2.25])


def test_no_false_marks_still_falls_strictly() -> None:
    c = knots(np.array([]), 4)
    assert c.scores == (1.0, 0.0) and c.false_marks == (0.0, 0.25)


def test_many_false_marks_are_thinned_to_the_cap_keeping_the_lowest() -> None:
    scores = np.linspace(0.01, 0.99, 3000)
    c = knots(scores, 10)
    assert len(c.scores) <= MAX_KNOTS + 2
    assert c.scores[-2] == pytest.approx(0.01) and c.false_marks[-2] == pytest.approx(300.0)
    assert all(a > b for a, b in zip(c.scores, c.scores[1:]))


def test_apply_calibrates_each_class_with_its_own_knots_and_keeps_the_order() -> None:
    mass = knots(np.array([0.9, 0.5, 0.5, 0.2]), 2)  # F(0.7) = 1: calibrated 0.5
    calibration = ScoreCalibration({"mass": mass}, 2)
    scores = torch.tensor([0.7, 0.95, 0.3, 0.7], dtype=torch.float32)
    labels = torch.tensor([1, 1, 1, 2])  # class 2 ("other") has no knots: kept
    out = calibration.apply(scores, labels, ["mass", "other"])
    f = mass.rate(np.array([0.7, 0.95, 0.3]))
    assert out.dtype == torch.float32
    assert out[:3].tolist() == pytest.approx((1 / (1 + f)).tolist())
    assert out[0].item() == pytest.approx(0.5)
    assert out[3].item() == pytest.approx(0.7)
    assert torch.argsort(out[:3]).tolist() == torch.argsort(scores[:3]).tolist()


def test_metadata_round_trip_and_corrupt_entries_name_the_file() -> None:
    calibration = ScoreCalibration({"mass": knots(np.array([0.4, 0.8]), 3)}, 3)
    again = ScoreCalibration.from_metadata(calibration.to_metadata(), Path("w.safetensors"))
    assert again == calibration
    bad = calibration.to_metadata()
    bad["classes"]["mass"]["scores"] = [0.2, 0.5, 0.6, 0.7]  # rising
    with pytest.raises(CheckpointError, match=r"w\.safetensors.*scores must fall"):
        ScoreCalibration.from_metadata(bad, Path("w.safetensors"))
    with pytest.raises(CheckpointError, match="n_images"):
        ScoreCalibration.from_metadata({"classes": {}, "n_images": 0}, Path("w.safetensors"))
    with pytest.raises(CheckpointError, match="equal lists"):
        ScoreCalibration.from_metadata(
            {"classes": {"mass": {"scores": [1.0, "x"], "false_marks": [0, 1]}}, "n_images": 1},
            Path("w.safetensors"),
        )
