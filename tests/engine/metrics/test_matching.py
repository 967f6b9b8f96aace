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


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 25),
    st.integers(1, 25),
    st.sampled_from(["random", "empty", "full", "band"]),
)
def test_encode_masks_equals_pycocotools(seed: int, h: int, w: int, kind: str) -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), dtype=bool)
    if kind == "random":
        mask = rng.random((h, w)) < rng.random()
    elif kind == "full":
        mask[:] = True
    elif kind == "band":
        c0 = int(rng.integers(0, w))
        mask[rng.integers(0, h) :, c0 : int(rng.integers(c0, w + 1))] = True
    reference = mask_utils.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    probabilities = np.where(mask, 0.75, 0.25).astype(np.float32)
    for given_masks in (mask[None], probabilities[None, None]):
        (rle,) = encode_masks(given_masks)
        assert rle["size"] == [h, w]
        assert rle["counts"] == reference["counts"].decode("ascii")
