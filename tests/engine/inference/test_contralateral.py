"""Contralateral suppression against hand-computed scores and pairings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mammorcnn.data.preprocess import PreprocessRecord
from mammorcnn.engine.inference.contralateral import (
    breast_coordinates,
    check_settings,
    mirrored_support,
    pair_contralateral,
    suppress_results,
)


def _image(image_id, patient="p1", side=None, view="MLO"):
    return {"id": image_id, "patient_id": patient, "laterality": side, "view": view}


def test_pairs_one_left_with_one_right_of_a_woman_and_view():
    images = [
        _image(1, side="L"),
        _image(2, side="R"),
        _image(3, side="L", view="CC"),
        _image(4, side="R", view="cc"),  # views compare case-blind
        _image(5, patient="p2", side="L"),  # no right breast
        _image(6, patient="p3", side="L"),
        _image(7, patient="p3", side="L"),  # two lefts and one right: ambiguous
        _image(8, patient="p3", side="R"),
        _image(9, patient="p4", side="R"),
        _image(10, patient="p4", side=None),  # unknown side
        _image(11, patient=None, side="L"),
        _image(12, patient=None, side="R"),  # no woman to pair by
    ]
    assert pair_contralateral(images) == {1: 2, 2: 1, 3: 4, 4: 3}


def test_breast_coordinates_put_the_breast_box_on_the_unit_square():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0], [50.0, 20.0, 50.0, 20.0]])
    got = breast_coordinates(boxes, (10, 20, 50, 120))
    np.testing.assert_allclose(got, [[0.25, 0.2], [1.0, 0.0]])


def test_mirrored_support_is_the_best_gaussian_weighted_score_of_the_label():
    centres = np.array([[0.5, 0.5], [0.0, 0.0]])
    other = np.array([[0.5, 0.6], [0.5, 0.5], [0.1, 0.0]])
    other_scores = np.array([0.9, 0.4, 0.8])
    got = mirrored_support(centres, np.array([1, 1]), other, other_scores, np.array([1, 2, 1]), 0.1)
    first = max(0.9 * math.exp(-0.01 / 0.02), 0.8 * math.exp(-(0.16 + 0.25) / 0.02))
    second = max(0.9 * math.exp(-(0.25 + 0.36) / 0.02), 0.8 * math.exp(-0.01 / 0.02))
    np.testing.assert_allclose(got, [first, second])  # label 2's exact match does not count
    assert mirrored_support(centres, np.array([1, 1]), other[:0], other_scores[:0],
                            np.array([], dtype=int), 0.1).tolist() == [0.0, 0.0]  # fmt: skip


def _record(flipped: bool) -> PreprocessRecord:
    # original 200x100 (H, W), no crop, resized to 100x50: model x = x/2 (left breast) or
    # (100 - x)/2 (right breast, mirrored), model y = y/2
    return PreprocessRecord(
        original_shape=(200, 100),
        crop_box=(0, 0, 100, 200),
        flipped=flipped,
        orientation_source="content",
        laterality="R" if flipped else "L",
        resized_shape=(100, 50),
        pad=(0, 0),
        image_size=100,
        intensity_range=(0.0, 1.0),
        breast_box=(0, 0, 100, 200),
    )


def _det(image_id, bbox, score):
    return {"image_id": image_id, "category_id": 1, "bbox": bbox, "score": score}


def test_mirrored_detections_lower_each_other_and_the_rest_stay():
    images = [_image(1), _image(2), _image(3, patient="p2")]
    records = {1: _record(False), 2: _record(True), 3: _record(False)}
    results = [
        _det(1, [40, 80, 20, 40], 0.8),  # centre (50, 100): breast coordinates (0.5, 0.5)
        _det(2, [40, 80, 20, 40], 0.6),  # mirrored image, same centre: (0.5, 0.5) too
        _det(1, [0, 0, 10, 10], 0.9),  # (0.05, 0.025): 0.67 away, exp(-21) of support
        _det(3, [40, 80, 20, 40], 0.7),  # another woman, one breast: no pair
    ]
    got = suppress_results(results, images, records, weight=0.5, radius=0.1)
    assert got[0]["score"] == pytest.approx(0.8 * (1 - 0.5 * 0.6))
    assert got[1]["score"] == pytest.approx(0.6 * (1 - 0.5 * 0.8))
    assert got[0]["score_before_contralateral"] == 0.8
    assert got[2] == results[2] and got[3] == results[3]
    assert results[0]["score"] == 0.8  # the input is not changed
    assert suppress_results(results, images, records, weight=0.0, radius=0.1) == results


def test_side_from_the_annotation_wins_over_the_record():
    # both records say left, the annotations say which is which
    images = [_image(1, side="L"), _image(2, side="R")]
    records = {1: _record(False), 2: _record(False)}
    results = [_det(1, [40, 80, 20, 40], 0.8), _det(2, [40, 80, 20, 40], 0.5)]
    got = suppress_results(results, images, records, weight=1.0, radius=0.1)
    assert got[0]["score"] == pytest.approx(0.8 * 0.5)


@pytest.mark.parametrize("weight, radius", [(-0.1, 0.1), (1.1, 0.1), (0.5, 0.0), (0.5, math.inf)])
def test_settings_out_of_range_are_refused(weight, radius):
    with pytest.raises(ValueError, match="contralateral"):
        check_settings(weight, radius)


@pytest.fixture
def mirrored_pair(phantoms, tmp_path):
    """A COCO file of one woman's two breasts, the right one the exact mirror of the left
    (so the model sees the same input twice), and another woman's single image."""
    import json

    from PIL import Image

    coco = json.loads(phantoms.read_text())
    first, other = coco["images"][0], coco["images"][1]
    left = phantoms.parent / first["file_name"]
    mirror = tmp_path / "mirror.png"
    Image.open(left).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirror)
    base = {"width": first["width"], "height": first["height"], "view": "MLO"}
    images = [
        {**base, "id": 1, "file_name": str(left), "patient_id": "w1", "laterality": "L"},
        {**base, "id": 2, "file_name": str(mirror), "patient_id": "w1", "laterality": "R"},
        {**base, "id": 3, "file_name": str(phantoms.parent / other["file_name"]),
         "patient_id": "w2", "laterality": "L"},
    ]  # fmt: skip
    path = tmp_path / "pair.json"
    path.write_text(
        json.dumps({"images": images, "annotations": [], "categories": coco["categories"]})
    )
    return path


def test_the_dataset_run_lowers_what_both_breasts_show(forced_weights, mirrored_pair, tmp_path):
    """The forced model scores every detection 1; the mirrored breast repeats each one at
    distance 0, so each paired detection becomes 1 * (1 - w * 1), the single image's stay 1."""
    from mammorcnn.engine.evaluation import evaluate_dataset, rescored_contralateral
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
    from mammorcnn.errors import ConfigError

    opts = DatasetRunOptions(device="cpu", contralateral_weight=0.25)
    results, _ = predict_dataset(forced_weights, mirrored_pair, opts, out_dir=tmp_path / "p")
    paired = [r for r in results if r["image_id"] in (1, 2)]
    assert paired and {r["score"] for r in paired} == {0.75}
    assert {r["score_before_contralateral"] for r in paired} == {1.0}
    assert {r["score"] for r in results if r["image_id"] == 3} == {1.0}
    saved = tmp_path / "p" / "predictions.json"
    assert json.loads(saved.read_text())["settings"]["contralateral"] == {
        "weight": 0.25, "radius": 0.1}  # fmt: skip
    # evaluate --results rescores from the scores before the rule, whatever the file holds
    gt = json.loads(mirrored_pair.read_text())
    for weight, expected in ((0.0, 1.0), (0.5, 0.5)):
        again = DatasetRunOptions(contralateral_weight=weight)
        got = rescored_contralateral(results, gt, [saved], mirrored_pair, again)
        assert {r["score"] for r in got if r["image_id"] in (1, 2)} == {expected}
        assert {r["score"] for r in got if r["image_id"] == 3} == {1.0}
    evaluation = evaluate_dataset(mirrored_pair, results_file=saved, options=again)
    assert evaluation.report["n_predictions"] == len(results)
    bare = tmp_path / "bare.json"  # a COCO results list has no records to map boxes with
    bare.write_text(json.dumps(results))
    with pytest.raises(ConfigError, match="needs predictions.json"):
        evaluate_dataset(mirrored_pair, results_file=bare, options=again)
