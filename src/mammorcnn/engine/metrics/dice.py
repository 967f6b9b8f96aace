"""Dice and IoU of the mask of each detected lesion: how well the found masses are outlined.

Segmentation quality is measured only where detection succeeded (a missed lesion is FROC's
business, not Dice's), at one operating point: predictions with score >= ``score_threshold``.
Among the predictions that hit a lesion under the FROC hit rule, the one whose mask overlaps
the lesion mask best is its match. Lesions without a ground-truth mask are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.engine.metrics.matching import HitRule, ImageDetections, ImageLesions, hit_matrix


@dataclass(frozen=True)
class LesionOverlap:
    """The best-matching predicted mask of one detected lesion."""

    image_index: int
    lesion_index: int
    prediction_index: int
    score: float
    dice: float
    iou: float


@dataclass(frozen=True)
class DiceResult:
    """Per-lesion overlaps plus their summary; NaN statistics when nothing was detected."""

    per_lesion: tuple[LesionOverlap, ...]
    n_lesions_with_mask: int
    score_threshold: float

    @property
    def n_detected(self) -> int:
        return len(self.per_lesion)

    def _stat(self, name: str, fn) -> float:  # noqa: ANN001 - numpy reducer
        values = [getattr(o, name) for o in self.per_lesion]
        return float(fn(values)) if values else math.nan

    @property
    def mean_dice(self) -> float:
        return self._stat("dice", np.mean)

    @property
    def median_dice(self) -> float:
        return self._stat("dice", np.median)

    @property
    def mean_iou(self) -> float:
        return self._stat("iou", np.mean)

    @property
    def median_iou(self) -> float:
        return self._stat("iou", np.median)

    def to_dict(self) -> dict:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {
            "score_threshold": None if math.isinf(self.score_threshold) else self.score_threshold,
            "n_lesions_with_mask": self.n_lesions_with_mask,
            "n_detected": self.n_detected,
            "mean_dice": clean(self.mean_dice),
            "median_dice": clean(self.median_dice),
            "mean_iou": clean(self.mean_iou),
            "median_iou": clean(self.median_iou),
        }


def lesion_dice(
    detections: Sequence[ImageDetections],
    lesions: Sequence[ImageLesions],
    rule: HitRule | None = None,
    score_threshold: float = 0.5,
) -> DiceResult:
    """Dice/IoU of each detected lesion's best predicted mask (see module doc)."""
    rule = rule or HitRule()
    found: list[LesionOverlap] = []
    n_with_mask = 0
    for i, (det, les) in enumerate(zip(detections, lesions, strict=True)):
        if les.masks is None:
            continue
        hits = hit_matrix(det, les, rule)
        usable = det.scores >= score_threshold
        if det.masks is not None:
            usable &= np.array([m is not None for m in det.masks], dtype=bool)
        else:
            usable[:] = False
        for g, gt_rle in enumerate(les.masks):
            if gt_rle is None:
                continue
            n_with_mask += 1
            candidates = np.flatnonzero(hits[:, g] & usable)
            if len(candidates) == 0:
                continue
            ious = mask_utils.iou([det.masks[p] for p in candidates], [gt_rle], [0])
            ious = np.asarray(ious, dtype=float).reshape(-1)
            best = int(np.argmax(ious))
            iou = float(ious[best])
            p = int(candidates[best])
            found.append(LesionOverlap(i, g, p, float(det.scores[p]), 2 * iou / (1 + iou), iou))
    return DiceResult(tuple(found), n_with_mask, float(score_threshold))
