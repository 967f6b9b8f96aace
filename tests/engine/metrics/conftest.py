"""A tiny COCO ground truth with masks, shared by the metric tests."""

from __future__ import annotations

import numpy as np
import pytest

from mammorcnn.engine.metrics import encode_masks


def _square_mask(h: int, w: int, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


@pytest.fixture
def tiny_gt() -> dict:
    """Three 64x80 images: two lesions, one lesion (polygon), and a normal image."""
    h, w = 64, 80
    rle_a = encode_masks(_square_mask(h, w, 10, 10, 30, 26)[None])[0]
    rle_b = encode_masks(_square_mask(h, w, 50, 30, 58, 40)[None])[0]
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "height": h, "width": w},
            {"id": 2, "file_name": "b.png", "height": h, "width": w},
            {"id": 7, "file_name": "normal.png", "height": h, "width": w},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 16],
             "segmentation": rle_a, "area": 320, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 30, 8, 10],
             "segmentation": rle_b},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [20, 20, 20, 20],
             "segmentation": [[20, 20, 40, 20, 40, 40, 20, 40]]},
        ],
        "categories": [{"id": 1, "name": "mass"}],
    }  # fmt: skip


@pytest.fixture
def square_mask():  # noqa: ANN201 - a helper function as fixture (tests import no modules)
    """``square_mask(h, w, x1, y1, x2, y2)``: bool HxW, True on [y1:y2, x1:x2]."""
    return _square_mask


@pytest.fixture
def perfect_predictions():  # noqa: ANN201
    """``perfect_predictions(gt)``: COCO results equal to the ground truth."""
    return _perfect_predictions


def _perfect_predictions(gt: dict) -> list[dict]:
    """Results equal to the ground truth (masks as RLE with str counts)."""
    from pycocotools import mask as mask_utils

    sizes = {img["id"]: (img["height"], img["width"]) for img in gt["images"]}
    out = []
    for ann in gt["annotations"]:
        seg = ann["segmentation"]
        if isinstance(seg, list):
            seg = mask_utils.merge(mask_utils.frPyObjects(seg, *sizes[ann["image_id"]]))
            seg["counts"] = seg["counts"].decode("ascii")
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": list(ann["bbox"]),
                "score": 0.9,
                "segmentation": seg,
            }
        )
    return out
