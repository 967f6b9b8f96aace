"""Anchor fitting: recovers known anchors, never loses to the config it starts from."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import yaml

from mammorcnn.engine.anchor_fit import (
    anchor_shapes,
    centred_iou,
    evaluate_anchors,
    fit_anchors,
    yaml_snippet,
)
from mammorcnn.errors import AnnotationError

STRIDES = np.array([4, 8, 16, 32, 64])
SPEC_SIZES, SPEC_RATIOS = (4, 7, 8, 10, 12), (1.5, 2.5, 3.6)


def boxes_around(sizes, ratios, n: int, jitter: float, seed: int) -> np.ndarray:
    """Boxes drawn around anchors (size, ratio, level uniformly), w and h jittered."""
    rng = np.random.default_rng(seed)
    s = np.asarray(sizes, float)[rng.integers(0, len(sizes), n)]
    r = np.asarray(ratios, float)[rng.integers(0, len(ratios), n)]
    stride = STRIDES[rng.integers(0, len(STRIDES), n)]
    w = s * stride / np.sqrt(r) * np.exp(rng.normal(0, jitter, n))
    h = s * stride * np.sqrt(r) * np.exp(rng.normal(0, jitter, n))
    return np.stack([w, h], axis=1)


def test_anchor_geometry_matches_the_specification() -> None:
    shapes, index = anchor_shapes([4], [2.5], [16])
    w, h = shapes[0]
    assert w * h == pytest.approx((4 * 16) ** 2)
    assert h / w == pytest.approx(2.5)
    assert index.tolist() == [[0, 0, 0]]


def test_centred_iou_by_hand() -> None:
    iou = centred_iou(np.array([[10.0, 10.0], [20.0, 10.0]]), np.array([[10.0, 10.0], [5, 40]]))
    # [20,10] vs [10,10]: 100 / 200; [10,10] vs [5,40]: 50 / (100 + 200 - 50).
    assert np.allclose(iou, [[1.0, 50 / 250], [0.5, 50 / 350]])
    mean, recall = evaluate_anchors(np.array([[40.0, 40.0], [80.0, 40.0]]), [10], [1.0], [4])
    assert mean == pytest.approx(0.75) and recall == 1.0


def test_recovers_known_anchor_shapes() -> None:
    true_sizes, true_ratios = (4.5, 5.5, 6.5, 7.5, 8.5), (1.0, 2.0, 4.0)
    boxes = boxes_around(true_sizes, true_ratios, n=2000, jitter=0.05, seed=1)
    fit = fit_anchors(boxes)
    assert np.allclose(fit.sizes, true_sizes, rtol=0.03)
    assert np.allclose(fit.ratios, true_ratios, rtol=0.03)
    fitted_iou, fitted_recall = evaluate_anchors(boxes, fit.sizes, fit.ratios)
    assert (fitted_iou, fitted_recall) == (fit.mean_best_iou, fit.recall_at_0_5)
    default_iou, _ = evaluate_anchors(boxes, SPEC_SIZES, SPEC_RATIOS)
    assert fit.mean_best_iou >= default_iou + 0.1
    assert fit.mean_best_iou == pytest.approx(evaluate_anchors(boxes, true_sizes, true_ratios)[0],
                                              abs=0.005)  # fmt: skip
    assert sum(fit.boxes_per_level.values()) == fit.n_boxes == 2000
    assert min(fit.boxes_per_level.values()) > 300  # every level used, as generated


def test_recovers_pixel_shapes_of_the_specification_defaults() -> None:
    # The spec's sizes span more than an octave, so (8 at stride 4) == (4 at stride 8): the
    # stride-unit sizes are not unique, but the anchor shapes in pixels must be found again.
    boxes = boxes_around(SPEC_SIZES, SPEC_RATIOS, n=2000, jitter=0.03, seed=2)
    fit = fit_anchors(boxes)
    assert np.allclose(fit.ratios, SPEC_RATIOS, rtol=0.05)
    true_shapes = np.unique(np.round(anchor_shapes(SPEC_SIZES, SPEC_RATIOS, STRIDES)[0], 3), axis=0)
    fitted_shapes = anchor_shapes(fit.sizes, fit.ratios, STRIDES)[0]
    assert centred_iou(true_shapes, fitted_shapes).max(axis=1).min() > 0.9
    assert fit.mean_best_iou >= evaluate_anchors(boxes, SPEC_SIZES, SPEC_RATIOS)[0] - 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_never_worse_than_the_config_it_starts_from(seed: int) -> None:
    rng = np.random.default_rng(seed)
    side = np.exp(rng.normal(np.log(90), 0.7, 800))
    ratio = np.exp(rng.normal(0.2, 0.35, 800))
    boxes = np.stack([side / np.sqrt(ratio), side * np.sqrt(ratio)], axis=1)
    fit = fit_anchors(boxes, seed=seed, init=(SPEC_SIZES, SPEC_RATIOS), restarts=3)
    default_iou, default_recall = evaluate_anchors(boxes, SPEC_SIZES, SPEC_RATIOS)
    assert fit.mean_best_iou >= default_iou
    assert fit == fit_anchors(boxes, seed=seed, init=(SPEC_SIZES, SPEC_RATIOS), restarts=3)


def test_yaml_snippet_matches_the_model_config() -> None:
    from mammorcnn.model.config import AnchorConfig, ModelConfig

    boxes = boxes_around(SPEC_SIZES, SPEC_RATIOS, n=300, jitter=0.05, seed=3)
    fit = fit_anchors(boxes, n_sizes=4, n_ratios=2, restarts=2)
    text = yaml_snippet(fit)
    assert text.startswith("# anchors fitted")
    anchors = yaml.safe_load(text)["model"]["anchors"]
    assert anchors == {"sizes": list(fit.sizes), "aspect_ratios": list(fit.ratios)}
    assert "anchors" in {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(anchors) <= {f.name for f in dataclasses.fields(AnchorConfig)}
    assert len(fit.sizes) == 4 and len(fit.ratios) == 2
    assert all(math.isfinite(v) for v in fit.sizes + fit.ratios)


def test_no_usable_boxes() -> None:
    with pytest.raises(AnnotationError, match="no boxes"):
        fit_anchors(np.array([[0.0, 5.0], [np.nan, 3.0]]))
