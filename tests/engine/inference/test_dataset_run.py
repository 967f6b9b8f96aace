"""predict_dataset: a checkpoint over a COCO file's images, detections in original pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
from mammorcnn.errors import CheckpointError

CPU = DatasetRunOptions(device="cpu")


def test_forced_checkpoint_gives_its_known_detections(forced_weights: Path, phantoms: Path) -> None:
    results, skipped = predict_dataset(forced_weights, phantoms, CPU, progress=False)
    ids = [image["id"] for image in json.loads(phantoms.read_text())["images"]]
    assert skipped == []
    assert sorted({r["image_id"] for r in results}) == sorted(ids)
    for r in results:
        # class 1 logit +10 against background -10: softmax 1 - 2e-9, rounded to 1.0
        assert r["category_id"] == 1 and r["score"] == 1.0
        x, y, w, h = r["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 128.01 and y + h <= 128.01 and w > 0 and h > 0
        # mask logits +10 everywhere: the mask fills its box (to the box's edge pixels)
        area = int(mask_utils.area(r["segmentation"]))
        assert 0.75 * w * h <= area <= (w + 2) * (h + 2)
    per_image = np.bincount([r["image_id"] for r in results])
    assert per_image.max() <= 50  # rpn.post_nms_top_n_test of the tiny model


def test_batching_and_detection_cap(forced_weights: Path, phantoms: Path) -> None:
    one, _ = predict_dataset(forced_weights, phantoms, CPU, progress=False)
    two, _ = predict_dataset(
        forced_weights, phantoms, DatasetRunOptions(device="cpu", batch_size=3), progress=False
    )
    assert [(r["image_id"], r["bbox"]) for r in two] == [(r["image_id"], r["bbox"]) for r in one]
    capped, _ = predict_dataset(
        forced_weights, phantoms, DatasetRunOptions(device="cpu", max_detections=2), progress=False
    )
    counts = np.bincount([r["image_id"] for r in capped])[1:]
    assert counts.tolist() == [2, 2, 2, 2]
    # the cap keeps each image's first two, in the uncapped order
    first_two = [r for i, r in enumerate(one) if [s["image_id"] for s in one[:i]].count(
        r["image_id"]) < 2]  # fmt: skip
    assert capped == first_two


def test_out_dir_gets_the_predictions_file(
    forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    results, _ = predict_dataset(forced_weights, phantoms, CPU, out_dir=tmp_path, progress=False)
    written = json.loads((tmp_path / "predictions.json").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.json"]
    assert written["results"] == results
    assert [i["id"] for i in written["images"]] == [1, 2, 3, 4]
    assert [i["n_detections"] for i in written["images"]] == np.bincount(
        [r["image_id"] for r in results]
    )[1:].tolist()


def test_checkpoint_classes_must_match_the_file(two_class_weights: Path, phantoms: Path) -> None:
    with pytest.raises(CheckpointError, match=r"classes .* differ from the categories"):
        predict_dataset(two_class_weights, phantoms, CPU, progress=False)


def test_test_time_flip_merges_the_mirrored_view(forced_weights: Path, phantoms: Path) -> None:
    """Every detection of the forced model scores 1: merged, a finding both views see keeps
    1.0 and one only a view sees gets (1 + 0) / 2."""
    flip = DatasetRunOptions(device="cpu", test_time_flip=True)
    results, _ = predict_dataset(forced_weights, phantoms, flip, progress=False)
    scores = {round(r["score"], 6) for r in results}
    assert scores <= {1.0, 0.5} and 1.0 in scores
    plain, _ = predict_dataset(forced_weights, phantoms, CPU, progress=False)
    assert {r["score"] for r in plain} == {1.0}
