"""FROC against hand computation and against a brute-force re-implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammorcnn.engine.metrics import HitRule, ImageDetections, ImageLesions, froc, hit_matrix
from mammorcnn.errors import ConfigError


def box_at(cx: float, cy: float, half: float = 2.0) -> list[float]:
    return [cx - half, cy - half, cx + half, cy + half]


def hand_case() -> tuple[list[ImageDetections], list[ImageLesions]]:
    """Three images; the expected curve is worked out in test_hand_computation."""
    l1_mask = np.zeros((100, 100), dtype=bool)
    l1_mask[10:30, 10:20] = True  # left half of L1's box only
    l2_mask = None  # box-only lesion
    les_a = ImageLesions(
        boxes=[[10, 10, 30, 30], [50, 50, 70, 70]],
        masks=[*_rles(l1_mask[None]), l2_mask],
    )
    det_a = ImageDetections(
        boxes=[
            box_at(15, 20),  # .9 hits L1
            box_at(12, 12),  # .8 hits L1 again: duplicate, neither TP nor FP
            box_at(90, 90),  # .7 FP
            box_at(60, 60),  # .4 hits L2 (by its box)
            box_at(25, 20),  # .5 inside L1's box but outside its mask: FP
        ],
        scores=[0.9, 0.8, 0.7, 0.4, 0.5],
    )
    les_b = ImageLesions(boxes=np.zeros((0, 4)))  # normal image
    det_b = ImageDetections(boxes=[box_at(5, 5), box_at(50, 50)], scores=[0.85, 0.3])
    les_c = ImageLesions(boxes=[[0, 0, 20, 20]])
    det_c = ImageDetections(boxes=[box_at(10, 10), box_at(80, 80)], scores=[0.6, 0.95])
    return [det_a, det_b, det_c], [les_a, les_b, les_c]


def _rles(masks: np.ndarray) -> list[dict]:
    from mammorcnn.engine.metrics import encode_masks

    return encode_masks(masks)


def test_hand_computation() -> None:
    dets, lesions = hand_case()
    result = froc(dets, lesions)
    # Sorted: .95 FP(C) .9 L1 .85 FP(B) [.8 dup] .7 FP(A) .6 L3 .5 FP(A) .4 L2 .3 FP(B)
    third = 1 / 3
    assert np.allclose(
        result.curve_fp, [0, third, third, 2 * third, 1, 1, 4 * third, 4 * third, 5 * third]
    )
    assert np.allclose(
        result.curve_sensitivity, [0, 0, third, third, third, 2 * third, 2 * third, 1, 1]
    )
    assert np.allclose(result.curve_thresholds[1:], [0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3])
    assert result.fp_rates == (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
    assert np.allclose(result.sensitivities, [0, 0, third, 2 * third, 1, 1])
    assert result.thresholds[:2] == (math.inf, math.inf)
    assert np.allclose(result.thresholds[2:], [0.9, 0.6, 0.3, 0.3])
    assert result.mean_sensitivity == pytest.approx((third + 2 * third + 2) / 6)
    assert (result.n_images, result.n_lesions, result.n_predictions) == (3, 3, 9)
    assert result.sensitivity_at(1.5) == pytest.approx(1.0)


def test_duplicate_hits_are_not_false_positives() -> None:
    les = [ImageLesions(boxes=[[0, 0, 10, 10]])]
    dets = [ImageDetections(boxes=[box_at(5, 5)] * 3, scores=[0.9, 0.8, 0.7])]
    result = froc(dets, les, fp_rates=[0.0])
    assert result.sensitivities == (1.0,)
    assert result.curve_fp.max() == 0.0


def test_perfect_predictions_reach_full_sensitivity_at_zero_fp() -> None:
    rng = np.random.default_rng(0)
    lesions, dets = [], []
    for _ in range(5):
        xy = rng.uniform(0, 80, size=(2, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 20, size=(2, 2))], axis=1)
        lesions.append(ImageLesions(boxes=boxes))
        dets.append(ImageDetections(boxes=boxes, scores=rng.uniform(0.1, 1, size=2)))
    lesions.append(ImageLesions(boxes=np.zeros((0, 4))))
    dets.append(ImageDetections(boxes=np.zeros((0, 4)), scores=[]))
    for rule in (HitRule(), HitRule("iou", 0.99)):
        result = froc(dets, lesions, rule, fp_rates=[0.0, 0.125, 1.0])
        assert result.sensitivities == (1.0, 1.0, 1.0)
        assert result.mean_sensitivity == 1.0


def test_normal_images_count_in_the_fp_denominator() -> None:
    les = [ImageLesions(boxes=[[0, 0, 10, 10]])]
    dets = [ImageDetections(boxes=[box_at(50, 50), box_at(5, 5)], scores=[0.9, 0.5])]
    alone = froc(dets, les, fp_rates=[0.5])
    assert alone.sensitivities == (0.0,)  # the FP costs 1 FP/image before the hit
    normals = [ImageLesions(boxes=np.zeros((0, 4)))] * 3
    empty = [ImageDetections(boxes=np.zeros((0, 4)), scores=[])] * 3
    padded = froc(dets + empty, les + normals, fp_rates=[0.5])
    assert padded.curve_fp[-1] == pytest.approx(0.25)
    assert padded.sensitivities == (1.0,)


def test_iou_rule() -> None:
    les = [ImageLesions(boxes=[[0, 0, 10, 10]])]
    # IoU of [0,0,10,5] with the lesion = 0.5; of [0,0,10,4] = 0.4.
    dets = [ImageDetections(boxes=[[0, 0, 10, 5], [0, 0, 10, 4]], scores=[0.5, 0.9])]
    hits = hit_matrix(dets[0], les[0], HitRule("iou", 0.5))
    assert hits[:, 0].tolist() == [True, False]
    result = froc(dets, les, HitRule.parse("iou:0.45"), fp_rates=[0.0, 1.0])
    assert result.sensitivities == (0.0, 1.0)
    assert froc(dets, les, HitRule("iou", 0.3), fp_rates=[0.0]).sensitivities == (1.0,)


def test_one_prediction_may_find_two_overlapping_lesions() -> None:
    les = [ImageLesions(boxes=[[0, 0, 10, 10], [4, 4, 14, 14]])]
    dets = [ImageDetections(boxes=[box_at(7, 7)], scores=[0.9])]
    assert froc(dets, les, fp_rates=[0.0]).sensitivities == (1.0,)


def test_no_lesions_gives_nan_sensitivity() -> None:
    les = [ImageLesions(boxes=np.zeros((0, 4)))]
    dets = [ImageDetections(boxes=[box_at(5, 5)], scores=[0.9])]
    result = froc(dets, les)
    assert all(math.isnan(s) for s in result.sensitivities)
    assert result.to_dict()["mean_sensitivity"] is None


def test_hit_rule_parse_rejects_nonsense() -> None:
    assert HitRule.parse("center") == HitRule()
    assert HitRule.parse("IoU:0.2") == HitRule("iou", 0.2)
    for text in ("centre:0.3", "iou:abc", "iou:1.5", "box"):
        with pytest.raises(ConfigError):
            HitRule.parse(text)


def test_to_dict_keeps_step_corners() -> None:
    dets, lesions = hand_case()
    d = froc(dets, lesions).to_dict()
    curve = d["curve"]
    assert curve["threshold"][0] is None
    assert curve["fp_per_image"][-1] == pytest.approx(5 / 3)
    assert curve["sensitivity"][-1] == pytest.approx(1.0)
    assert d["thresholds"][:2] == [None, None]


def brute_force_sensitivity(dets, lesions, rule, fp_rate) -> float:
    """Independent reference: try every threshold and count directly."""
    scores = sorted({float(s) for d in dets for s in d.scores} | {math.inf}, reverse=True)
    n_les = sum(len(les.boxes) for les in lesions)
    best = 0.0
    for t in scores:
        fp = tp = 0
        for d, les in zip(dets, lesions):
            keep = d.scores >= t
            hits = hit_matrix(d, les, rule)[keep]
            fp += int((~hits.any(axis=1)).sum())
            tp += int(hits.any(axis=0).sum())
        if fp / len(lesions) <= fp_rate:
            best = max(best, tp / n_les)
    return best


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=3),
            st.lists(
                st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 5)),
                max_size=6,
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([HitRule(), HitRule("iou", 0.3)]),
)
def test_matches_brute_force(images, rule) -> None:
    dets, lesions = [], []
    for les_xy, preds in images:
        lesions.append(ImageLesions(boxes=[[x, y, x + 10, y + 10] for x, y in les_xy]))
        dets.append(
            ImageDetections(
                boxes=[[x, y, x + 8, y + 8] for x, y, _ in preds],
                scores=[s / 5 for _, _, s in preds],  # few distinct values: ties
            )
        )
    if sum(len(les.boxes) for les in lesions) == 0:
        return
    rates = [0.0, 0.25, 1.0, 2.0]
    result = froc(dets, lesions, rule, fp_rates=rates)
    for f, s in zip(rates, result.sensitivities):
        assert s == pytest.approx(brute_force_sensitivity(dets, lesions, rule, f))
    assert np.all(np.diff(result.curve_fp) >= 0)
    assert np.all(np.diff(result.curve_sensitivity) >= 0)


def test_threshold_at_is_an_operating_point() -> None:
    dets, lesions = hand_case()
    result = froc(dets, lesions)
    assert result.threshold_at(1.0) == pytest.approx(0.6)
    assert result.threshold_at(0.1) == math.inf
    assert result.sensitivity_at(0.5) == pytest.approx(1 / 3)


def test_froc_from_scores_hand_computed() -> None:
    """Lesion best scores 0.9, 0.6 and a miss; false positives 0.8, 0.5, 0.3, 0.2 on 2
    images. At 0.25 FP/image no false positive is allowed: only 0.9 (1/3). At 0.5, one:
    the threshold may fall to 0.6, above the second false positive (2/3). At 1 and 2 the
    miss stays missed (2/3)."""
    from mammorcnn.engine.metrics.froc import froc_from_scores

    result = froc_from_scores(
        np.array([0.9, 0.6, -np.inf]), np.array([0.8, 0.5, 0.3, 0.2]), 2, (0.25, 0.5, 1, 2)
    )
    assert result.sensitivities == pytest.approx((1 / 3, 2 / 3, 2 / 3, 2 / 3))
    assert result.thresholds[:2] == (0.9, 0.6)
    assert result.n_lesions == 3 and result.n_predictions == 6
