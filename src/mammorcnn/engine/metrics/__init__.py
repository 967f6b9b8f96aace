"""Evaluation metrics: FROC, COCO mAP and per-lesion Dice, plus the combined report."""

from mammorcnn.engine.metrics.coco_map import CocoMetrics, coco_map
from mammorcnn.engine.metrics.dice import DiceResult, LesionOverlap, lesion_dice
from mammorcnn.engine.metrics.froc import DEFAULT_FP_RATES, FrocResult, froc
from mammorcnn.engine.metrics.matching import (
    HitRule,
    ImageDetections,
    ImageLesions,
    box_iou,
    encode_masks,
    hit_matrix,
)
from mammorcnn.engine.metrics.report import evaluate_predictions, format_report

__all__ = [
    "CocoMetrics",
    "DiceResult",
    "LesionOverlap",
    "coco_map",
    "lesion_dice",
    "DEFAULT_FP_RATES",
    "FrocResult",
    "HitRule",
    "ImageDetections",
    "ImageLesions",
    "box_iou",
    "encode_masks",
    "evaluate_predictions",
    "format_report",
    "froc",
    "hit_matrix",
]
