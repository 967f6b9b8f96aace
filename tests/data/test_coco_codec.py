"""The one COCO codec: datasets and evaluation read masks by the same rules and limits."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mammorcnn.data.coco import annotation_mask, validate_coco
from mammorcnn.data.coco_codec import (
    MAX_SIDE,
    SegmentationError,
    encode_mask,
    rle_string_counts,
    segmentation_rle,
    write_json,
)
from mammorcnn.engine.metrics.cocoio import load_ground_truth
from mammorcnn.errors import AnnotationError, InputError

H, W = 40, 50


def _coco(segmentation: object, height: int = H, width: int = W) -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": height, "width": width}],
        "categories": [{"id": 1, "name": "mass"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 10],
             "segmentation": segmentation}
        ],
    }  # fmt: skip


def _both(coco: dict) -> tuple[str | None, str | None]:
    """The problem dataset loading and evaluation each find (None: accepted)."""
    found = []
    for check in (lambda c: validate_coco(c, "a.json"), lambda c: load_ground_truth(c, "a.json")):
        try:
            check(json.loads(json.dumps(coco)))
            found.append(None)
        except AnnotationError as error:
            found.append(error.problem)
    return found[0], found[1]


def test_a_polygon_outside_the_image_is_refused_by_datasets_and_evaluation_alike() -> None:
    outside = [[10, 10, 60, 10, 60, 20]]  # x = 60 on a 50-px wide image
    data_problem, eval_problem = _both(_coco(outside))
    assert data_problem and "polygon lies outside the image (50x40)" in data_problem
    assert eval_problem and "polygon lies outside the image (50x40)" in eval_problem


def test_a_polygon_on_the_border_is_accepted_by_both_with_the_same_area() -> None:
    border = [[10.0, 10.0, 50.5, 10.0, 50.5, 20.0, 10.0, 20.0]]  # within the 1-px tolerance
    assert _both(_coco(border)) == (None, None)
    data_area = validate_coco(_coco(border), "a.json")["annotations"][0]["area"]
    eval_area = load_ground_truth(_coco(border))[2]["annotations"][0]["area"]
    assert data_area == eval_area == 400  # 40 columns x 10 rows


@pytest.mark.parametrize(
    ("height", "width", "words"),
    [(40, MAX_SIDE + 1, f"'width' must be an integer in [1, {MAX_SIDE}]"),
     (50000, 50000, "exceed the limit of 2147483648")],
)  # fmt: skip
def test_image_size_limits_are_the_same_for_both(height: int, width: int, words: str) -> None:
    coco = _coco({"size": [height, width], "counts": [height * width]}, height, width)
    data_problem, eval_problem = _both(coco)
    assert data_problem and words in data_problem
    assert eval_problem and words in eval_problem


@pytest.mark.parametrize(
    ("segmentation", "words"),
    [({"size": [H, W], "counts": [5, 5]}, "they cover 10 pixels, the image has 2000"),
     ({"size": [H, W], "counts": [10**30, 1]}, "a run is negative or longer than the image"),
     ({"size": [H, W], "counts": "\x00\xff"}, "unreadable RLE 'counts'"),
     ({"size": [4, 4], "counts": [16]}, "differs from the image size [40, 50]"),
     ([[1, 2, 3, 4]], "at least 3 (x, y) points"),
     ([[1, 2, 3, float("nan"), 5, 6]], "finite numbers"),
     ("x", "unknown 'segmentation' format")],
)  # fmt: skip
def test_bad_segmentations_name_their_problem(segmentation: object, words: str) -> None:
    with pytest.raises(SegmentationError) as info:
        segmentation_rle(segmentation, H, W)
    assert words in str(info.value)


def test_decoding_masks_gives_no_numpy_deprecation_warning() -> None:
    """pycocotools' decode trips NumPy 2's copy-keyword warning, which fit-anchors printed
    as a WARNING line per mask."""
    mask = np.zeros((H, W), np.uint8)
    mask[5:15, 20:30] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = annotation_mask({"segmentation": encode_mask(mask)}, H, W)
    np.testing.assert_array_equal(got, mask)


@pytest.mark.parametrize("seed", range(20))
def test_encoder_equals_pycocotools_on_the_whole_mask(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = np.zeros((H, W), bool)
    x0, x1 = sorted(rng.integers(0, W, 2))
    mask[:, x0 : x1 + 1] = rng.random((H, x1 + 1 - x0)) < 0.5
    reference = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert encode_mask(mask) == {"size": [H, W], "counts": reference["counts"].decode()}
    assert rle_string_counts(encode_mask(mask)["counts"]).sum() == H * W


def test_write_json_is_strict_and_atomic(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    write_json({"a": np.float32(0.5), "b": float("nan"), "c": np.arange(2), "d": "é"}, out)
    assert out.read_bytes() == b'{"a": 0.5, "b": null, "c": [0, 1], "d": "\\u00e9"}\n'
    with pytest.raises(TypeError):
        write_json({"x": object()}, out)
    assert json.loads(out.read_text())["a"] == 0.5  # the old file is whole
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    (tmp_path / "d.json").mkdir()
    with pytest.raises(InputError, match="d.json: cannot write"):  # the path, not the disk
        write_json({}, tmp_path / "d.json")


def test_a_full_disk_is_the_machines_fault_not_the_paths(tmp_path: Path, monkeypatch) -> None:
    import errno

    import mammorcnn.atomic as atomic
    from mammorcnn.errors import OutputError

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write", full)
    with pytest.raises(OutputError, match="r.json: cannot write .*disk is full"):
        write_json({}, tmp_path / "r.json")
