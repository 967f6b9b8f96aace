"""Pectoral muscle rule against hand-made images and hand-computed distances: the muscle's
edge found where it was drawn, nothing found where none was drawn, and only detections
centred in the muscle of MLO-type views lowered."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mammorcnn.engine.inference.pectoral import (
    PectoralLine,
    check_weight,
    find_pectoral_line,
    in_muscle,
    suppress_pectoral,
)
from mammorcnn.errors import ConfigError
from mammorcnn.model.config import BoxHeadConfig

SIZE = 512


def _film(muscle: tuple[float, float] | None, top: int = 40) -> np.ndarray:
    """A model input: a half-disc breast (chest wall on the left, rows top..SIZE-top) of level
    0.4 with a faint texture, and, when given, a muscle triangle of level 0.8 from (x_top, top)
    to (0, y_wall) drawn into it."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    centre, radius = SIZE / 2, SIZE / 2 - top
    breast = (x**2 + (y - centre) ** 2 <= radius**2) & (y >= top) & (y < SIZE - top)
    image = np.where(breast, 0.4 + 0.03 * rng.standard_normal((SIZE, SIZE)), 0.0)
    if muscle is not None:
        x_top, y_wall = muscle
        inside = x / x_top + (y - top) / (y_wall - top) < 1
        image = np.where(breast & inside, 0.8, image)
    return np.clip(image, 0, 1).astype(np.float32)


def test_the_drawn_edge_is_found() -> None:
    line = find_pectoral_line(_film((160.0, 300.0)))
    assert line is not None
    grid_cell = SIZE / 128  # the search runs on a 128-cell grid
    assert line.y_top == pytest.approx(40, abs=grid_cell)
    assert line.x_top == pytest.approx(160, abs=2 * grid_cell)
    assert line.y_wall == pytest.approx(300, abs=2 * grid_cell)
    assert line.contrast == pytest.approx(0.4, abs=0.1)  # 0.8 inside against 0.4 outside


def test_no_muscle_and_a_blank_image_give_none() -> None:
    assert find_pectoral_line(_film(None)) is None
    assert find_pectoral_line(np.zeros((SIZE, SIZE), np.float32)) is None
    # a faint step is below the contrast a muscle must have
    faint = _film((160.0, 300.0))
    faint = np.where(faint > 0.6, 0.45, faint).astype(np.float32)
    assert find_pectoral_line(faint) is None


def test_depth_by_hand() -> None:
    # edge from (100, 0) to (0, 200): a*x + b*y = c with a = 200, b = 100, c = 20000
    line = PectoralLine(x_top=100.0, y_top=0.0, y_wall=200.0, contrast=0.3)
    norm = math.hypot(200, 100)
    depth = line.depth(np.array([0.0, 50.0, 100.0]), np.array([0.0, 100.0, 200.0]))
    assert depth == pytest.approx([20000 / norm, 0.0, -20000 / norm])
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [90.0, 90.0, 110.0, 110.0]])
    assert in_muscle(boxes, line).tolist() == [True, False]  # centres (10, 10) and (100, 100)
    assert in_muscle(boxes, None).tolist() == [False, False]


def test_only_detections_in_the_muscle_of_muscle_views_are_lowered() -> None:
    image = _film((160.0, 300.0))
    # centres (30, 80): deep in the muscle; (200, 300): in the breast below it
    boxes = torch.tensor([[20.0, 70.0, 40.0, 90.0], [190.0, 290.0, 210.0, 310.0]])
    scores = torch.tensor([0.9, 0.8])
    lowered, dropped = suppress_pectoral(scores, boxes, image, "MLO", 1.0)
    assert lowered.tolist() == pytest.approx([0, 0.8]) and dropped.tolist() == [True, False]
    lowered, dropped = suppress_pectoral(scores, boxes, image, "MLO", 0.5)
    assert lowered.tolist() == pytest.approx([0.45, 0.8]) and not dropped.any()
    # the film channel of a two-channel input (film, other breast) is the one searched
    two_channel = np.stack([image, np.zeros_like(image)])
    lowered, dropped = suppress_pectoral(scores, boxes, two_channel, "ML", 1.0)
    assert lowered.tolist() == pytest.approx([0, 0.8]) and dropped.tolist() == [True, False]
    unchanged = [
        (image, "CC", 1.0),  # no muscle to look for
        (image, None, 1.0),  # no way to know
        (image, "MLO", 0.0),  # off
        (_film(None), "MLO", 1.0),  # no muscle found
    ]
    for film, view, weight in unchanged:
        lowered, dropped = suppress_pectoral(scores, boxes, film, view, weight)
        assert torch.equal(lowered, scores) and not dropped.any()


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_a_weight_outside_zero_to_one_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ConfigError, match="--pectoral-weight"):
        check_weight(bad, "--pectoral-weight")
    with pytest.raises(ConfigError, match="model.box_head.pectoral_weight"):
        BoxHeadConfig(pectoral_weight=bad)
