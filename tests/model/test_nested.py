"""Nested-detection suppression against hand-computed overlaps, and in the model's output."""

from __future__ import annotations

import torch

from mammorcnn.model.nested import not_nested


def keep(boxes: list, scores: list, labels: list | None = None, t: float = 0.5) -> list[bool]:
    b = torch.tensor(boxes, dtype=torch.float32)
    s = torch.tensor(scores, dtype=torch.float32)
    lb = torch.tensor(labels or [1] * len(scores))
    return not_nested(b, s, lb, t).tolist()


def test_a_small_box_inside_a_higher_one_is_dropped_whatever_the_iou() -> None:
    # IoU of [0,0,10,10] inside [0,0,40,40] is 100/1600 = 0.06: NMS keeps both; covered 1.0
    assert keep([[0, 0, 40, 40], [0, 0, 10, 10]], [0.9, 0.8]) == [True, False]
    # the other way round: the big box is covered by 100/100 of the smaller one's area too
    assert keep([[0, 0, 40, 40], [0, 0, 10, 10]], [0.7, 0.8]) == [False, True]


def test_the_threshold_is_on_intersection_over_the_smaller_area() -> None:
    # [0,0,10,10] and [5,0,25,10]: intersection 50, smaller area 100 -> 0.5
    assert keep([[0, 0, 10, 10], [5, 0, 25, 10]], [0.9, 0.8], t=0.5) == [True, True]
    assert keep([[0, 0, 10, 10], [5, 0, 25, 10]], [0.9, 0.8], t=0.49) == [True, False]
    assert keep([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], t=0.01) == [True, True]


def test_classes_ties_and_the_non_greedy_rule() -> None:
    assert keep([[0, 0, 40, 40], [0, 0, 10, 10]], [0.9, 0.8], labels=[1, 2]) == [True, True]
    assert keep([[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.5]) == [True, False]
    # b is dropped by a, and still drops c (which a does not touch): not greedy NMS
    boxes = [[0, 0, 10, 10], [5, 0, 15, 10], [12, 0, 22, 10]]
    assert keep(boxes, [0.9, 0.8, 0.7], t=0.25) == [True, False, False]
    assert not_nested(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.5).shape == (0,)


def test_the_model_drops_nested_detections_only_when_asked() -> None:
    from mammorcnn.model import ModelConfig, build_model

    torch.manual_seed(0)
    config = ModelConfig.tiny()
    config.box_head.score_thresh = 0.0
    model = build_model(config).eval()
    image = [torch.rand(1, 128, 128)]
    with torch.no_grad():
        (plain,) = model(image)
        model.roi_heads.nested_thresh = 0.5
        (nested,) = model(image)
    expected = not_nested(plain["boxes"], plain["scores"], plain["labels"], 0.5)
    assert 0 < int(expected.sum()) < len(plain["scores"])  # the untrained model nests boxes
    assert torch.equal(nested["boxes"], plain["boxes"][expected])
    assert torch.equal(nested["scores"], plain["scores"][expected])
    assert nested["masks"].shape[0] == int(expected.sum())
