"""A small evaluation with known outcomes, shared by the review, page and browser tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mammorcnn.engine.metrics import encode_masks

H, W = 64, 80


def square(x1: int, y1: int, x2: int, y2: int) -> dict:
    """RLE (str counts) of an HxW mask, True on [y1:y2, x1:x2]."""
    mask = np.zeros((H, W), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return encode_masks(mask[None])[0]


def lesion(image_id: int, box: tuple[int, int, int, int], **extra: object) -> dict:
    x1, y1, x2, y2 = box
    return {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
            "segmentation": square(*box), **extra}  # fmt: skip


def mark(image_id: int, box: tuple[int, int, int, int], score: float) -> dict:
    x1, y1, x2, y2 = box
    return {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": score, "segmentation": square(*box)}  # fmt: skip


@pytest.fixture
def case(tmp_path) -> tuple[dict, list[dict]]:
    """Four images of three women; images written as PNG beside the returned COCO dict.

    - a.png (woman P1): lesion found (score 0.9, exact mask) and a lesion missed;
    - b.png (woman P1): lesion found at 0.8 with a half-size mask (Dice 2/3), FP at 0.7;
    - c.png (woman P2): a normal image with an FP at 0.95;
    - d.png (woman P3): lesion found at 0.6 (exact).
    FP rate 2 FPs / 4 images at the lowest threshold: the 1-FP point keeps every mark.
    """
    names = ["a.png", "b.png", "c.png", "d.png"]
    for k, name in enumerate(names):
        pixels = (np.indices((H, W)).sum(axis=0) * (k + 1) % 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / name)
    gt = {
        "images": [
            {"id": i + 1, "file_name": n, "height": H, "width": W, "patient_id": p}
            for i, (n, p) in enumerate(zip(names, ["P1", "P1", "P2", "P3"]))
        ],
        "annotations": [
            lesion(1, (10, 10, 30, 26), lesion_type="mass", pathology="malignant"),
            lesion(1, (50, 30, 60, 40), lesion_type="mass", pathology="benign"),
            lesion(2, (20, 20, 40, 40)),
            lesion(4, (5, 5, 25, 25)),
        ],
        "categories": [{"id": 1, "name": "mass"}],
    }
    for k, ann in enumerate(gt["annotations"]):
        ann["id"] = k + 1
    preds = [
        mark(1, (10, 10, 30, 26), 0.9),
        mark(2, (20, 20, 40, 30), 0.8),
        mark(2, (60, 5, 70, 15), 0.7),
        mark(3, (40, 40, 50, 50), 0.95),
        mark(4, (5, 5, 25, 25), 0.6),
    ]
    return gt, preds
