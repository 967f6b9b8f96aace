"""COCO mAP for boxes and masks through pycocotools' reference COCOeval.

pycocotools prints its progress and summary table to stdout; here that text goes to this
module's logger (debug level) so the command line keeps its own, single table.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mammorcnn.engine.metrics.cocoio import clean_predictions, image_sizes, load_ground_truth

logger = logging.getLogger(__name__)

# The order of COCOeval.stats.
STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl",
    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)  # fmt: skip


@dataclass(frozen=True)
class CocoMetrics:
    """COCOeval summary (``stats``: None where COCOeval says -1, e.g. no large lesions) and
    the precision-recall curve at IoU 0.5 and 0.75 (all areas, 100 detections), averaged over
    categories; NaN where precision is undefined."""

    iou_type: str
    stats: dict[str, float | None]
    recall: np.ndarray
    precision50: np.ndarray
    precision75: np.ndarray

    def to_dict(self) -> dict:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else round(float(v), 6) for v in a]

        return {
            **self.stats,
            "pr_curve": {
                "recall": clean(self.recall),
                "precision_iou50": clean(self.precision50),
                "precision_iou75": clean(self.precision75),
            },
        }


def _run_quietly(fn, *args):  # noqa: ANN001, ANN202 - forwards to pycocotools
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = fn(*args)
    if buffer.getvalue().strip():
        logger.debug("pycocotools:\n%s", buffer.getvalue().rstrip())
    return result


def _prepare(gt: dict, predictions: Sequence[dict], iou_type: str) -> tuple[dict, list[dict]]:
    """Copies of gt and predictions fit for COCOeval of ``iou_type``."""
    if iou_type == "bbox":
        return gt, [dict(p) for p in predictions]
    # Box-only lesions (no mask) cannot be scored for masks: make them 'crowd' regions with the
    # box as polygon, which COCOeval ignores (a mask on them is neither TP nor FP).
    for ann in gt["annotations"]:
        if not ann.get("segmentation"):
            x, y, w, h = ann["bbox"]
            ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            ann["iscrowd"] = 1
    # Without 'bbox', loadRes derives box and area from the mask itself.
    dets = [{k: v for k, v in p.items() if k != "bbox"} for p in predictions]
    return gt, dets


def coco_map(
    gt_coco: dict,
    predictions: Sequence[dict],
    iou_type: Literal["bbox", "segm"] = "bbox",
) -> CocoMetrics | None:
    """COCO AP/AR of COCO-results ``predictions`` against ``gt_coco``.

    Both inputs are validated (AnnotationError). Returns None when the metric is undefined:
    no ground-truth annotations, or for ``segm`` no ground-truth mask or no predicted mask.
    Predictions without a mask take no part in ``segm``.
    """
    _, _, gt = load_ground_truth(gt_coco)
    # Checked first: pycocotools asserts, or reads past buffers, on malformed entries.
    predictions = clean_predictions(predictions, image_sizes(gt))
    anns = gt["annotations"]
    if not anns:
        return None
    if iou_type == "segm":
        if not any(a.get("segmentation") for a in anns):
            return None
        predictions = [p for p in predictions if p.get("segmentation")]
        if not predictions:
            return None
    gt, dets = _prepare(gt, predictions, iou_type)
    recall = np.linspace(0.0, 1.0, 101)
    if not dets:  # loadRes cannot take an empty list; nothing detected is AP 0
        zeros = dict.fromkeys(STAT_NAMES, 0.0)
        return CocoMetrics(iou_type, zeros, recall, np.zeros(101), np.zeros(101))
    coco_gt = COCO()
    coco_gt.dataset = gt
    _run_quietly(coco_gt.createIndex)
    coco_dt = _run_quietly(coco_gt.loadRes, dets)
    evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
    _run_quietly(evaluator.evaluate)
    _run_quietly(evaluator.accumulate)
    _run_quietly(evaluator.summarize)
    stats = {
        name: (None if value < 0 else float(value))
        for name, value in zip(STAT_NAMES, evaluator.stats)
    }
    precision = evaluator.eval["precision"]  # [T, R, K, A, M]

    def curve(t: int) -> np.ndarray:
        p = precision[t, :, :, 0, -1].astype(float)
        p[p < 0] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows with no category defined
            return np.nanmean(p, axis=1)

    return CocoMetrics(iou_type, stats, recall, curve(0), curve(5))
