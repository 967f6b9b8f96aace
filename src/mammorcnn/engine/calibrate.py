"""Fit a trained model's score calibration on its training images and keep it in the weights.

Why the training images: they are what every training has and a user always owns, with no
validation set taken from a small set; the model underfits them (the mini-MIAS recipe finds
about as many training masses as new ones), so its false marks there fall at about the scores
they fall at on new women, which is all that putting several models on one scale needs
(docs/evaluation.md, "Score calibration"). The map itself: inference/score_calibration.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from mammorcnn.engine.checkpoint import load_weights, save_weights
from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
from mammorcnn.engine.inference.loading import resolve_weights
from mammorcnn.engine.inference.score_calibration import METADATA_KEY, ScoreCalibration, knots
from mammorcnn.engine.metrics.category import one_category
from mammorcnn.engine.metrics.froc import lesion_scores, matched_coco
from mammorcnn.engine.metrics.matching import HitRule

log = logging.getLogger("mammorcnn.calibrate")


def false_mark_scores(gt_coco: dict, results: list[dict], name: str, source: str) -> np.ndarray:
    """Scores of the marks of the category called ``name`` that hit none of its lesions, by
    the FROC's default hit rule (a mark on another category's finding counts as false, as in
    ``evaluate --category``)."""
    detections, lesions = matched_coco(*one_category(gt_coco, results, name, source), source)
    _, false_scores = lesion_scores(detections, lesions, HitRule())
    return false_scores


def fit_calibration(gt_coco: dict, results: list[dict], source: str) -> ScoreCalibration:
    """Each category's F from uncalibrated COCO results over the images of ``gt_coco``."""
    n_images = len(gt_coco.get("images", []))
    classes = {}
    for category in gt_coco.get("categories", []):
        name = str(category.get("name"))
        classes[name] = knots(false_mark_scores(gt_coco, results, name, source), n_images)
    return ScoreCalibration(classes, n_images)


def calibrate_weights(
    weights: str | Path,
    annotations: str | Path,
    options: DatasetRunOptions | None = None,
    progress: bool | None = None,
) -> ScoreCalibration:
    """Run ``weights`` over ``annotations`` without calibration, fit each class's F and write
    it into the weights file's metadata (atomically: the old file stays whole on a crash)."""
    from mammorcnn.data.coco import load_coco

    path = resolve_weights(Path(weights))
    opts = replace(options or DatasetRunOptions(), score_calibration=False)
    results, _ = predict_dataset(path, annotations, opts, progress=progress)
    gt_coco = load_coco(annotations)
    calibration = fit_calibration(gt_coco, results, str(annotations))
    state_dict, metadata = load_weights(path)
    metadata[METADATA_KEY] = calibration.to_metadata()
    ScoreCalibration.from_metadata(metadata[METADATA_KEY], path)  # what is written must read back
    save_weights(path, state_dict, metadata)
    for name, c in calibration.classes.items():
        log.info(
            "%s: class %s calibrated on the %d image(s) of %s: raw score 0.5 gives %.2f false "
            "marks per image", path, name, calibration.n_images, annotations,
            float(c.rate(np.array([0.5]))[0]),
        )  # fmt: skip
    return calibration
