"""RPN anchor labels: IoU > 0.7 positive, < 0.3 negative, in between ignored, best anchor rule."""

from __future__ import annotations

import torch

from mammorcnn.model import build_model, tiny_config

GT = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
# IoU with GT: 75/100, 50/100, 25/100, 0
ANCHORS = torch.tensor(
    [[0.0, 0.0, 10.0, 7.5], [0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 2.5], [50.0, 50, 60, 60]]
)


def _labels(anchors: torch.Tensor, best_anchor_positive: bool = True) -> list[float]:
    cfg = tiny_config()
    cfg.rpn.best_anchor_positive = best_anchor_positive
    rpn = build_model(cfg).rpn
    labels, matched = rpn.assign_targets_to_anchors([anchors], [{"boxes": GT}])
    return labels[0].tolist()


def test_iou_075_050_025_are_positive_ignored_negative() -> None:
    assert _labels(ANCHORS) == [1.0, -1.0, 0.0, 0.0]


def test_each_ground_truths_best_anchor_is_positive() -> None:
    without_good_anchor = ANCHORS[1:]  # best IoU is now 0.5
    assert _labels(without_good_anchor) == [1.0, 0.0, 0.0]
    assert _labels(without_good_anchor, best_anchor_positive=False) == [-1.0, 0.0, 0.0]


def test_image_without_ground_truth_has_only_negatives() -> None:
    rpn = build_model(tiny_config()).rpn
    labels, _ = rpn.assign_targets_to_anchors([ANCHORS], [{"boxes": torch.zeros(0, 4)}])
    assert labels[0].tolist() == [0.0] * 4
