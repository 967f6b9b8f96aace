"""COCO results and mask PNGs: exact round trips, JSON-safe, atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mammorcnn.engine.metrics import evaluate_predictions
from mammorcnn.engine.outputs import (
    binary_mask,
    coco_results,
    label_mask,
    write_coco_results,
    write_json,
    write_mask_png,
)


def model_like_output(h: int = 60, w: int = 90) -> dict:
    """What the model returns after mapping to the original image: tensors, (K,1,H,W) probs."""
    masks = torch.zeros(3, 1, h, w)
    masks[0, 0, 10:30, 20:50] = 0.9
    masks[1, 0, 20:40, 40:70] = 0.7  # overlaps detection 0
    masks[2, 0, 5:8, 5:8] = 0.4  # below the mask threshold: empty
    return {
        "boxes": torch.tensor([[20.0, 10, 50, 30], [40, 20, 70, 40], [5, 5, 8, 8]]),
        "scores": torch.tensor([0.6, 0.95, 0.3]),
        "labels": torch.tensor([1, 2, 1]),
        "masks": masks,
    }


def test_coco_results_round_trip_through_evaluate(tmp_path) -> None:
    det = model_like_output()
    entries = coco_results(7, det, category_ids={1: 11, 2: 12})
    assert [e["category_id"] for e in entries] == [11, 12, 11]
    assert entries[0]["bbox"] == [20.0, 10.0, 30.0, 20.0]
    assert entries[1]["score"] == pytest.approx(0.95)
    path = write_coco_results(entries, tmp_path / "results.json")
    loaded = json.loads(path.read_text())
    assert loaded == entries
    # The same masks as ground truth: evaluate reads predict's output back perfectly.
    gt = {
        "images": [{"id": 7, "height": 60, "width": 90}],
        "annotations": [{**e, "id": i + 1, "category_id": 1} for i, e in enumerate(loaded[:2])],
        "categories": [{"id": 1, "name": "mass"}],
    }
    preds = [{**e, "category_id": 1} for e in loaded[:2]]
    report = evaluate_predictions(gt, preds)
    assert report["coco"]["segm"]["AP"] == pytest.approx(1.0)
    assert report["dice"]["mean_dice"] == pytest.approx(1.0)


def test_coco_results_without_masks() -> None:
    det = {k: v for k, v in model_like_output().items() if k != "masks"}
    entries = coco_results(1, det)
    assert all("segmentation" not in e for e in entries)
    assert [e["category_id"] for e in entries] == [1, 2, 1]


def test_label_mask_prefers_higher_score_and_round_trips(tmp_path) -> None:
    labels = label_mask(model_like_output())
    assert labels.dtype == np.uint8 and labels.shape == (60, 90)
    assert labels[15, 25] == 1 and labels[35, 65] == 2
    assert labels[25, 45] == 2  # overlap: detection 2 has the higher score
    assert not (labels == 3).any()  # its probabilities stay below 0.5
    path = write_mask_png(labels, tmp_path / "m.png")
    assert np.array_equal(np.asarray(Image.open(path)), labels)
    binary = binary_mask(model_like_output())
    assert set(np.unique(binary)) == {0, 255}
    write_mask_png(binary > 0, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), binary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "m.png"]  # no temp files


def test_mask_png_rejects_wrong_input(tmp_path) -> None:
    with pytest.raises(ValueError):
        write_mask_png(np.zeros((2, 3, 4), np.uint8), tmp_path / "x.png")
    with pytest.raises(ValueError):
        write_mask_png(np.zeros((3, 4), np.float32), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
    assert label_mask({"boxes": np.zeros((0, 4)), "scores": []}, (5, 6)).shape == (5, 6)


def test_write_json_is_strict(tmp_path) -> None:
    path = write_json({"a": np.float32(1.5), "b": float("nan"), "c": np.arange(2)}, tmp_path / "j")
    assert json.loads(path.read_text()) == {"a": 1.5, "b": None, "c": [0, 1]}
