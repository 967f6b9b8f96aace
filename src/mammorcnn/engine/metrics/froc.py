"""FROC: lesion sensitivity against false positives per image, as mammography CAD papers report.

Rules (see docs/evaluation.md for the reasoning):

* A prediction *hits* a lesion under a :class:`HitRule` (centre inside, default; or IoU >= t).
* A lesion counts as detected at threshold t when at least one prediction with score >= t hits
  it; it counts once however many predictions hit it.
* A prediction with score >= t that hits no lesion is one false positive. A prediction that hits
  a lesion is never a false positive, even when another prediction already found that lesion
  (the CAD convention, e.g. LUNA16: several marks on one finding are one finding, and a
  reader would not call the second mark on a true mass a false alarm).
* Every image counts in the FP-per-image denominator, lesion-free (normal) images included.
* Sensitivity at a target FP rate f is the highest sensitivity over thresholds whose FP rate is
  <= f (no interpolation between operating points: the reported value is one the model
  actually achieves at a threshold, which is also returned).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mammorcnn.engine.metrics.matching import HitRule, ImageDetections, ImageLesions, hit_matrix

DEFAULT_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class FrocResult:
    """FROC summary plus the full curve.

    ``curve_*`` hold one point per distinct score threshold, from the highest threshold down,
    preceded by the empty operating point (threshold +inf, 0 FP, sensitivity 0).
    ``thresholds[i]`` is the lowest score threshold whose FP rate stays <= ``fp_rates[i]``
    (use predictions with score >= it); +inf when even the best-scored prediction is a FP.
    """

    fp_rates: tuple[float, ...]
    sensitivities: tuple[float, ...]
    thresholds: tuple[float, ...]
    mean_sensitivity: float
    curve_fp: np.ndarray
    curve_sensitivity: np.ndarray
    curve_thresholds: np.ndarray
    n_images: int
    n_lesions: int
    n_predictions: int

    def sensitivity_at(self, fp_rate: float) -> float:
        """Sensitivity at any FP rate under the same rule as the listed points."""
        return _sensitivity_at(self.curve_fp, self.curve_sensitivity, fp_rate)[0]

    def threshold_at(self, fp_rate: float) -> float:
        """Lowest score threshold whose FP rate stays <= ``fp_rate`` (an operating point)."""
        return _sensitivity_at(
            self.curve_fp, self.curve_sensitivity, fp_rate, self.curve_thresholds
        )[1]

    def to_dict(self, full_curve: bool = False) -> dict:
        """JSON-ready dict (NaN as None). The curve keeps only its corners unless asked."""
        fp, sens, thr = self.curve_fp, self.curve_sensitivity, self.curve_thresholds
        if not full_curve and len(fp) > 2:
            # A step curve is drawn exactly from the last point of each sensitivity level and
            # the first point of the next, plus the end point.
            change = np.flatnonzero(np.diff(sens) != 0)
            keep = np.unique(np.concatenate([[0], change, change + 1, [len(fp) - 1]]))
            fp, sens, thr = fp[keep], sens[keep], thr[keep]
        return {
            "fp_rates": list(self.fp_rates),
            "sensitivities": [_nan_none(s) for s in self.sensitivities],
            "thresholds": [_finite_or_none(t) for t in self.thresholds],
            "mean_sensitivity": _nan_none(self.mean_sensitivity),
            "n_images": self.n_images,
            "n_lesions": self.n_lesions,
            "n_predictions": self.n_predictions,
            "curve": {
                "fp_per_image": [float(x) for x in fp],
                "sensitivity": [_nan_none(x) for x in sens],
                "threshold": [_finite_or_none(x) for x in thr],
            },
        }


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def lesion_scores(
    detections: Sequence[ImageDetections],
    lesions: Sequence[ImageLesions],
    rule: HitRule,
) -> tuple[np.ndarray, np.ndarray]:
    """(best score per lesion, -inf if missed; scores of predictions that hit no lesion)."""
    if len(detections) != len(lesions):
        raise ValueError(f"{len(detections)} prediction sets for {len(lesions)} images")
    best: list[np.ndarray] = []
    false_pos: list[np.ndarray] = []
    for det, les in zip(detections, lesions):
        hits = hit_matrix(det, les, rule)
        scored = np.where(hits, det.scores[:, None], -np.inf)
        best.append(scored.max(axis=0) if len(det.scores) else np.full(len(les.boxes), -np.inf))
        false_pos.append(det.scores[~hits.any(axis=1)])
    return np.concatenate(best + [np.empty(0)]), np.concatenate(false_pos + [np.empty(0)])


def froc(
    detections: Sequence[ImageDetections],
    lesions: Sequence[ImageLesions],
    rule: HitRule | None = None,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
) -> FrocResult:
    """FROC of ``detections[i]`` against ``lesions[i]`` over all images i (see module doc)."""
    best, fp_scores = lesion_scores(detections, lesions, rule or HitRule())
    n_predictions = int(sum(len(d.scores) for d in detections))
    return froc_from_scores(best, fp_scores, len(lesions), fp_rates, n_predictions)


def froc_from_scores(
    best: np.ndarray,
    fp_scores: np.ndarray,
    n_images: int,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    n_predictions: int | None = None,
) -> FrocResult:
    """FROC from each lesion's best score (-inf if missed) and the false positives' scores
    over ``n_images`` images: what :func:`froc` computes once detections are matched, and
    what a kept ``per_image.json`` (which has no boxes) can still be re-scored with. Without
    ``n_predictions`` the count is that of the scores given (a lesion's other hits unseen)."""
    if n_images == 0:
        raise ValueError("FROC needs at least one image")
    if any(not f >= 0 for f in fp_rates):
        raise ValueError(f"FP rates must be >= 0, got {list(fp_rates)}")
    best, fp_scores = np.asarray(best, float), np.asarray(fp_scores, float)
    if n_predictions is None:
        n_predictions = int(np.isfinite(best).sum() + fp_scores.size)
    n_lesions = len(best)
    # Every distinct score is a threshold; descending, so FP and sensitivity only grow.
    all_scores = np.concatenate([best[np.isfinite(best)], fp_scores])
    thresholds = np.unique(all_scores)[::-1]
    # count(x >= t) for each threshold via a sorted search on the negated values.
    neg_fp = np.sort(-fp_scores)
    neg_best = np.sort(-best[np.isfinite(best)])
    fp_counts = np.searchsorted(neg_fp, -thresholds, side="right")
    tp_counts = np.searchsorted(neg_best, -thresholds, side="right")
    curve_fp = np.concatenate([[0.0], fp_counts / n_images])
    if n_lesions:
        curve_sens = np.concatenate([[0.0], tp_counts / n_lesions])
    else:
        curve_sens = np.full(len(thresholds) + 1, np.nan)
    curve_thr = np.concatenate([[np.inf], thresholds])
    rates = tuple(float(f) for f in fp_rates)
    sens_thr = [_sensitivity_at(curve_fp, curve_sens, f, curve_thr) for f in rates]
    sens = tuple(s for s, _ in sens_thr)
    return FrocResult(
        fp_rates=rates,
        sensitivities=sens,
        thresholds=tuple(t for _, t in sens_thr),
        mean_sensitivity=float(np.mean(sens)) if sens else math.nan,
        curve_fp=curve_fp,
        curve_sensitivity=curve_sens,
        curve_thresholds=curve_thr,
        n_images=n_images,
        n_lesions=n_lesions,
        n_predictions=n_predictions,
    )


def _sensitivity_at(
    curve_fp: np.ndarray,
    curve_sens: np.ndarray,
    fp_rate: float,
    curve_thr: np.ndarray | None = None,
) -> tuple[float, float]:
    """Highest sensitivity with FP rate <= fp_rate, and the threshold that achieves it.

    Both curves are non-decreasing along the threshold sweep, so that is the last point whose
    FP rate is still within the budget.
    """
    last = int(np.searchsorted(curve_fp, fp_rate + 1e-12, side="right")) - 1
    threshold = math.inf if curve_thr is None else float(curve_thr[last])
    return float(curve_sens[last]), threshold


def froc_of_coco(
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    source: str = "ground truth",
) -> FrocResult:
    """The FROC of COCO results against a COCO ground truth, both checked as `evaluate` checks
    them (for the report's extra FROCs, each over a part of the same files)."""
    detections, lesions = matched_coco(gt_coco, predictions, source)
    return froc(detections, lesions, hit_rule, fp_rates)


def matched_coco(
    gt_coco: dict, predictions: Sequence[dict], source: str
) -> tuple[list[ImageDetections], list[ImageLesions]]:
    """Per image of ``gt_coco``, its checked predictions and its lesions, as `evaluate` reads
    them (for :func:`froc_of_coco` and score calibration's false marks)."""
    from mammorcnn.engine.metrics.cocoio import (
        clean_predictions,
        group_predictions,
        image_sizes,
        load_ground_truth,
    )

    image_ids, lesions, gt = load_ground_truth(gt_coco, source)
    by_image = group_predictions(clean_predictions(predictions, image_sizes(gt), source), image_ids)
    return [by_image[i] for i in image_ids], lesions
