"""Per-lesion Dice/IoU against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mammorcnn.engine.metrics import HitRule, ImageDetections, ImageLesions
from mammorcnn.engine.metrics.dice import lesion_dice


def test_hand_computation(square_mask) -> None:
    h, w = 40, 40
    lesion = square_mask(h, w, 0, 0, 10, 10)  # area 100
    other = square_mask(h, w, 20, 20, 30, 30)  # area 100, box-only below
    les = ImageLesions(boxes=[[0, 0, 10, 10], [20, 20, 30, 30]], masks=[lesion, other])
    preds = np.stack(
        [
            square_mask(h, w, 0, 0, 10, 5),  # inter 50, union 100: IoU .5, Dice 2/3
            square_mask(h, w, 0, 0, 10, 8),  # inter 80, union 100: IoU .8, Dice 8/9 (best)
            square_mask(h, w, 0, 0, 10, 10),  # perfect but below the score threshold
            square_mask(h, w, 20, 20, 30, 25),  # lesion 2: IoU .5
        ]
    )
    det = ImageDetections(
        boxes=[[0, 0, 10, 5], [0, 0, 10, 8], [0, 0, 10, 10], [20, 20, 30, 25]],
        scores=[0.9, 0.6, 0.3, 0.7],
        masks=preds,
    )
    result = lesion_dice([det], [les], HitRule(), score_threshold=0.5)
    assert result.n_lesions_with_mask == 2 and result.n_detected == 2
    first, second = result.per_lesion
    assert (first.lesion_index, first.prediction_index) == (0, 1)
    assert first.iou == pytest.approx(0.8) and first.dice == pytest.approx(8 / 9)
    assert second.iou == pytest.approx(0.5) and second.dice == pytest.approx(2 / 3)
    assert result.mean_dice == pytest.approx((8 / 9 + 2 / 3) / 2)
    assert result.median_iou == pytest.approx(0.65)
    # Lowering the threshold lets the perfect mask win.
    assert lesion_dice([det], [les], score_threshold=0.0).per_lesion[0].dice == pytest.approx(1)


def test_missed_and_box_only_lesions_are_not_scored(square_mask) -> None:
    les = ImageLesions(boxes=[[0, 0, 10, 10], [20, 20, 30, 30]], masks=None)  # box-only
    det = ImageDetections(boxes=[[0, 0, 10, 10]], scores=[0.9],
                          masks=square_mask(40, 40, 0, 0, 10, 10)[None])  # fmt: skip
    result = lesion_dice([det], [les])
    assert result.n_lesions_with_mask == 0 and result.n_detected == 0
    assert math.isnan(result.mean_dice)
    assert result.to_dict()["mean_dice"] is None
    # A lesion with a mask that no prediction hits is counted but not detected.
    les2 = ImageLesions(boxes=[[20, 20, 30, 30]], masks=square_mask(40, 40, 20, 20, 30, 30)[None])
    result2 = lesion_dice([det], [les2])
    assert result2.n_lesions_with_mask == 1 and result2.n_detected == 0
