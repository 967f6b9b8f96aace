"""Test-time flips: the mirror mapping and the fusion of views, against hand-computed tensors."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.engine.inference.flip_merge import merge_views, mirror_vertically


def output(boxes: list, scores: list, labels: list | None = None, masks=None) -> dict:
    out = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels or [1] * len(scores), dtype=torch.int64),
    }
    if masks is not None:
        out["masks"] = masks
    return out


def test_mirror_maps_boxes_and_masks_back() -> None:
    masks = torch.zeros(1, 1, 4, 3)
    masks[0, 0, 0, 2] = 1.0  # top row of the mirrored image = bottom row of the image
    out = mirror_vertically(output([[10, 20, 30, 60]], [0.9], masks=masks), height=100)
    assert out["boxes"].tolist() == [[10, 40, 30, 80]]
    assert out["masks"][0, 0, 3, 2] == 1.0 and out["masks"].sum() == 1.0
    assert out["scores"].tolist() == pytest.approx([0.9])


def test_agreeing_views_fuse_and_a_lone_view_is_halved() -> None:
    a = output([[0, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.4])
    b = output([[1, 0, 11, 10]], [0.6])  # IoU with a's first box: 90 / 110 = 0.82
    merged = merge_views([a, b])
    # fused box: (0.8 * [0, 0, 10, 10] + 0.6 * [1, 0, 11, 10]) / 1.4; score (0.8 + 0.6) / 2
    assert merged["boxes"][0].tolist() == pytest.approx([0.6 / 1.4, 0, 10 + 0.6 / 1.4, 10])
    assert merged["scores"].tolist() == pytest.approx([0.7, 0.2])
    assert merged["boxes"][1].tolist() == [50, 50, 60, 60]


def test_below_the_fusion_iou_two_findings_stay_apart() -> None:
    a = output([[0, 0, 10, 10]], [0.9])
    b = output([[0, 0, 10, 18]], [0.5])  # IoU 100 / 180 = 0.56 -> fused
    c = output([[0, 0, 10, 20]], [0.5])  # IoU 100 / 200 = 0.50 -> apart
    assert merge_views([a, b])["scores"].tolist() == pytest.approx([0.7])
    assert merge_views([a, c])["scores"].tolist() == pytest.approx([0.45, 0.25])


def test_classes_never_fuse_and_the_leader_gives_the_label() -> None:
    a = output([[0, 0, 10, 10]], [0.9], labels=[1])
    b = output([[0, 0, 10, 10]], [0.5], labels=[2])
    merged = merge_views([a, b])
    assert merged["labels"].tolist() == [1, 2]
    assert merged["scores"].tolist() == pytest.approx([0.45, 0.25])


def test_a_view_adds_only_its_best_overlapping_detection() -> None:
    a = output([[0, 0, 10, 10]], [0.9])
    # both overlap a's box by IoU >= 0.55 (0.9 and 0.82); the better one (0.7) joins it
    b = output([[0, 0, 10, 9], [0, 1, 10, 11]], [0.3, 0.7])
    merged = merge_views([a, b])
    assert merged["scores"].tolist() == pytest.approx([0.8, 0.15])
    assert merged["boxes"][1].tolist() == [0, 0, 10, 9]


def test_masks_are_score_weighted_means_and_the_limit_keeps_the_best() -> None:
    ones, zeros = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    a = output([[0, 0, 10, 10], [40, 40, 50, 50]], [0.6, 0.1], masks=torch.cat([ones, ones]))
    b = output([[0, 0, 10, 10]], [0.2], masks=zeros)
    merged = merge_views([a, b], limit=1)
    assert merged["masks"].shape == (1, 1, 2, 2)
    assert merged["masks"].flatten().tolist() == pytest.approx([0.75] * 4)  # 0.6 / 0.8
    assert merged["scores"].tolist() == pytest.approx([0.4])


def test_no_detections_in_any_view() -> None:
    empty = output([], [], masks=torch.zeros(0, 1, 8, 8))
    merged = merge_views([empty, empty])
    assert merged["boxes"].shape == (0, 4) and merged["scores"].shape == (0,)
    assert merged["masks"].shape == (0, 1, 8, 8)


def test_predictor_maps_the_mirrored_view_back_before_merging() -> None:
    import numpy as np

    from mammorcnn.engine.inference.predictor import Predictor

    from .stubs import BrightSpotModel, identity_item, stub_loaded

    size = 64
    loaded = stub_loaded(BrightSpotModel(), size=size)
    config = loaded.model_config
    image = np.zeros((size, size), dtype=np.float32)
    image[20, 30] = 1.0
    item = identity_item(image)

    (plain,) = Predictor(loaded, score_threshold=0.5, test_time_flip=False).run([item])
    assert plain["scores"].tolist() == pytest.approx([0.9, 0.6])
    (flipped,) = Predictor(loaded, score_threshold=0.5, test_time_flip=True).run([item])
    # the spot: both views agree (0.9); the fixed box: (0.6 + 0) / 2 = 0.3 < 0.5, dropped
    assert flipped["scores"].tolist() == pytest.approx([0.9])
    assert flipped["boxes"].tolist() == [[26.5, 16.5, 34.5, 24.5]]
    assert flipped["masks"][0, 0, 20, 30] == pytest.approx(1.0)
    assert flipped["masks"].sum() == pytest.approx(1.0)
    # no flag: the checkpoint's config decides
    config.box_head.test_time_flip = True
    (default,) = Predictor(loaded, score_threshold=0.0).run([item])
    assert default["scores"].tolist() == pytest.approx([0.9, 0.3, 0.3])
