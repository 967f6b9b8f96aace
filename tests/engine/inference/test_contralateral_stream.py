"""ContralateralStream: how `predict` pairs images as they come, against hand-computed scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammorcnn.data.preprocess import PreprocessRecord
from mammorcnn.engine.inference.contralateral_stream import ContralateralStream, HeldImage
from mammorcnn.engine.inference.predictor import PreparedImage


def _held(image_id, side, study="1.2.3", view="MLO", scores=(0.8, 0.3)):
    record = PreprocessRecord(
        original_shape=(100, 100),
        crop_box=(0, 0, 100, 100),
        flipped=side == "R",
        orientation_source="ImageLaterality",
        laterality=side,
        resized_shape=(100, 100),
        pad=(0, 0),
        image_size=100,
        intensity_range=(0.0, 1.0),
        breast_box=(0, 0, 100, 100),
    )
    meta = {"view": view} | ({"StudyInstanceUID": study} if study else {})
    # model-space boxes: one at breast coordinates (0.5, 0.5), one at (0.05, 0.05)
    output = {
        "boxes": torch.tensor([[40.0, 40.0, 60.0, 60.0], [0.0, 0.0, 10.0, 10.0]]),
        "scores": torch.tensor(scores),
        "labels": torch.tensor([1, 1]),
    }
    item = PreparedImage(np.zeros((100, 100), np.float32), record, meta)
    return HeldImage(image_id, f"im{image_id}", item, output)


def _scores(released):
    return {h.image_id: [round(float(s), 6) for s in h.output["scores"]] for h in released}


def test_a_pair_is_released_together_with_the_rule_then_the_threshold():
    stream = ContralateralStream(0.5, 0.1, score_threshold=0.2, max_detections=None)
    assert stream.add(_held(1, "L")) == []
    released = stream.add(_held(2, "R", scores=(0.6, 0.9)))
    # (0.5, 0.5) meets its mirror at distance 0; (0.05, 0.05) meets its own at distance 0 too
    # (both images hold it), and the other box is 0.64 away: exp(-20.3), nothing
    assert _scores(released) == {
        2: [round(0.9 * (1 - 0.5 * 0.3), 6), round(0.6 * (1 - 0.5 * 0.8), 6)],  # best first
        1: [round(0.8 * (1 - 0.5 * 0.6), 6)],  # 0.3 * (1 - 0.45) = 0.165 < 0.2: dropped
    }
    assert released[0].output["boxes"][0].tolist() == [0.0, 0.0, 10.0, 10.0]  # boxes follow
    assert stream.flush() == []


def test_images_without_a_study_or_a_side_pass_unchanged():
    stream = ContralateralStream(0.5, 0.1, score_threshold=0.5, max_detections=1)
    assert _scores(stream.add(_held(1, "L", study=None))) == {1: [0.8]}
    assert _scores(stream.add(_held(2, None, scores=(0.3, 0.9)))) == {2: [0.9]}  # capped at 1


def test_another_study_releases_what_waits():
    stream = ContralateralStream(0.5, 0.1, score_threshold=0.0, max_detections=None)
    assert stream.add(_held(1, "L", study="A")) == []
    assert stream.add(_held(2, "L", study="A", view="CC")) == []
    assert _scores(stream.add(_held(3, "R", study="B"))) == {1: [0.8, 0.3], 2: [0.8, 0.3]}
    assert _scores(stream.flush()) == {3: [0.8, 0.3]}


def test_two_images_of_one_side_pair_nothing_in_that_view():
    stream = ContralateralStream(0.5, 0.1, score_threshold=0.0, max_detections=None)
    assert stream.add(_held(1, "L")) == []
    assert _scores(stream.add(_held(2, "L"))) == {1: [0.8, 0.3], 2: [0.8, 0.3]}
    assert _scores(stream.add(_held(3, "R"))) == {3: [0.8, 0.3]}
    assert stream.add(_held(4, "L", view="CC")) == []  # another view still pairs


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="contralateral"):
        ContralateralStream(2.0, 0.1, 0.5, None)
