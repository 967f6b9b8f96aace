"""Point-in-mask lookups on run lengths agree with the decoded mask."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mammorcnn.engine.metrics import ImageLesions, box_iou, encode_masks


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 30))
def test_contains_matches_decoded_mask(seed: int, h: int, w: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < rng.random()
    les = ImageLesions(boxes=[[0, 0, w, h]], masks=encode_masks(mask[None]))
    rows = rng.integers(-2, h + 2, size=200)
    cols = rng.integers(-2, w + 2, size=200)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    expected = np.zeros(200, dtype=bool)
    expected[inside] = mask[rows[inside], cols[inside]]
    assert np.array_equal(les.contains(0, rows, cols), expected)
    assert np.array_equal(les.mask(0), mask)


def test_box_iou_by_hand() -> None:
    iou = box_iou([[0, 0, 10, 10], [5, 5, 15, 15]], [[0, 0, 10, 10], [20, 20, 21, 21]])
    assert np.allclose(iou, [[1.0, 0.0], [25 / 175, 0.0]])
