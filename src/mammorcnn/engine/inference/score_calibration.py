"""Scores on one scale across trainings: a class's score s -> 1 / (1 + F(s)).

Two trainings of one recipe rank a set's findings alike but score them on different scales
(the five fold models of one cross-validation found 1 false mark per image at thresholds from
0.28 to 0.44), so a threshold chosen on one model (the cross-validation's operating point) lands
elsewhere on another, and the detections of several models pooled under one threshold lose
findings each model ranks well. F(s) is the number of false marks per image at or above s that
the model makes on its own training images (the FROC's false positives, counted as `evaluate`
counts them), kept with the weights: a calibrated 0.5 is about one false mark per training
image, 0.33 two. Monotone per class, so one model's FROC, AP and ranking are unchanged
(docs/evaluation.md, "Score calibration"). Fitting runs the model: engine/calibrate.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mammorcnn.errors import CheckpointError

METADATA_KEY = "score_calibration"
# Knots kept per class: enough to follow the curve (a fold's 180 training films give a few
# thousand false marks), small enough for the weights file's JSON header.
MAX_KNOTS = 256


@dataclass(frozen=True)
class ClassCalibration:
    """False marks per image at or above each knot score; scores descending, rates rising."""

    scores: tuple[float, ...]
    false_marks: tuple[float, ...]

    def rate(self, scores: np.ndarray) -> np.ndarray:
        """F(s), linear between knots, so distinct scores stay distinct and in order."""
        return np.interp(scores, self.scores[::-1], self.false_marks[::-1])


def knots(false_positive_scores: np.ndarray, n_images: int) -> ClassCalibration:
    """The knots of F from the scores of one class's false marks over ``n_images`` images.

    F jumps at each false mark's score u: F(u) = #(false marks >= u) / n. The ends are pinned
    at (1, 0) and (0, F(lowest) + 1/n), so F falls strictly as the score rises."""
    if n_images < 1:
        raise ValueError("score calibration needs at least one image")
    unique = np.unique(np.clip(np.asarray(false_positive_scores, float), 0.0, 1.0))[::-1]
    neg_sorted = np.sort(-np.asarray(false_positive_scores, float))
    counts = np.searchsorted(neg_sorted, -unique, side="right") / n_images
    if len(unique) > MAX_KNOTS:  # evenly by rank, the lowest kept
        pick = np.unique(np.linspace(0, len(unique) - 1, MAX_KNOTS).round().astype(int))
        unique, counts = unique[pick], counts[pick]
    scores, rates = list(unique), list(counts)
    if not scores or scores[0] < 1.0:
        scores, rates = [1.0, *scores], [0.0, *rates]
    if scores[-1] > 0.0:
        scores, rates = [*scores, 0.0], [*rates, rates[-1] + 1.0 / n_images]
    return ClassCalibration(tuple(float(s) for s in scores), tuple(float(r) for r in rates))


@dataclass(frozen=True)
class ScoreCalibration:
    """Each class's F, by class name, and how many images measured it."""

    classes: dict[str, ClassCalibration]
    n_images: int

    def apply(
        self, scores: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]
    ) -> torch.Tensor:
        """Calibrated scores of detections with model labels 1..C (``class_names[label-1]``);
        a class without knots keeps its scores."""
        out = scores.clone()
        values, classes = scores.double().numpy(), labels.numpy()
        for label in np.unique(classes):
            name = class_names[int(label) - 1] if 1 <= label <= len(class_names) else None
            calibration = self.classes.get(name) if name is not None else None
            if calibration is None:
                continue
            picked = classes == label
            calibrated = 1.0 / (1.0 + calibration.rate(values[picked]))
            out[torch.from_numpy(picked)] = torch.from_numpy(calibrated).to(scores.dtype)
        return out

    def to_metadata(self) -> dict:
        return {
            "method": "1 / (1 + false marks per training image at or above the score)",
            "n_images": self.n_images,
            "classes": {
                name: {"scores": list(c.scores), "false_marks": list(c.false_marks)}
                for name, c in self.classes.items()
            },
        }

    @classmethod
    def from_metadata(cls, data: object, path: Path) -> ScoreCalibration:
        """Read what :meth:`to_metadata` wrote; CheckpointError naming ``path`` if malformed."""

        def bad(problem: str) -> CheckpointError:
            return CheckpointError(path, f"corrupt score calibration: {problem}")

        if not isinstance(data, dict) or not isinstance(data.get("classes"), dict):
            raise bad("not an object with classes")
        n_images = data.get("n_images")
        if not isinstance(n_images, int) or isinstance(n_images, bool) or n_images < 1:
            raise bad(f"n_images is {n_images!r}")
        classes = {}
        for name, entry in data["classes"].items():
            scores = entry.get("scores") if isinstance(entry, dict) else None
            rates = entry.get("false_marks") if isinstance(entry, dict) else None
            if not _numbers(scores) or not _numbers(rates) or len(scores) != len(rates):
                raise bad(f"class {name!r} needs equal lists of scores and false_marks")
            if len(scores) < 2 or any(a <= b for a, b in zip(scores, scores[1:])):
                raise bad(f"class {name!r}: scores must fall strictly")
            if any(a > b for a, b in zip(rates, rates[1:])) or rates[0] < 0:
                raise bad(f"class {name!r}: false_marks must rise from >= 0")
            classes[str(name)] = ClassCalibration(tuple(scores), tuple(rates))
        return cls(classes, n_images)


def _numbers(values: object) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
