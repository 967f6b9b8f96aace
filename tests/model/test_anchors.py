"""Anchor geometry: sizes in units of the level stride, ratio = height / width, 15 per location."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.models.detection.image_list import ImageList

from mammorcnn.model import ModelConfig
from mammorcnn.model.anchors import PyramidAnchorGenerator

STRIDES = (4, 8, 16, 32, 64)


def _generator() -> PyramidAnchorGenerator:
    cfg = ModelConfig().anchors
    return PyramidAnchorGenerator(cfg.sizes, cfg.aspect_ratios, STRIDES, cfg.offset)


def _features(size: int) -> list[torch.Tensor]:
    return [torch.zeros(1, 1, math.ceil(size / s), math.ceil(size / s)) for s in STRIDES]


def test_fifteen_anchors_per_location_on_every_level() -> None:
    gen = _generator()
    assert gen.num_anchors_per_location() == [15] * 5
    feats = _features(128)
    (anchors,) = gen(ImageList(torch.zeros(1, 1, 128, 128), [(128, 128)]), feats)
    assert anchors.shape == (sum(f.shape[-2] * f.shape[-1] * 15 for f in feats), 4)


@pytest.mark.parametrize("level", range(5))
def test_widths_and_heights_follow_the_formula(level: int) -> None:
    gen = _generator()
    stride = STRIDES[level]
    anchors = gen.level_anchors(level, 2, 3, torch.device("cpu"), torch.float64)
    cell = anchors.reshape(2, 3, 15, 4)[1, 2]  # the 15 anchors of location (y=1, x=2)
    widths, heights = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    expected = [
        (s * stride / math.sqrt(r), s * stride * math.sqrt(r))
        for r in (1.5, 2.5, 3.6)
        for s in (4, 7, 8, 10, 12)
    ]
    torch.testing.assert_close(widths, torch.tensor([w for w, _ in expected], dtype=torch.float64))
    torch.testing.assert_close(heights, torch.tensor([h for _, h in expected], dtype=torch.float64))
    # ratio is height / width and the area equals (size * stride)^2
    torch.testing.assert_close(
        heights / widths, torch.tensor([1.5] * 5 + [2.5] * 5 + [3.6] * 5, dtype=torch.float64)
    )
    # centred on the cell: ((x + 0.5) * stride, (y + 0.5) * stride)
    centres = (cell[:, :2] + cell[:, 2:]) / 2
    torch.testing.assert_close(
        centres, torch.tensor([[2.5 * stride, 1.5 * stride]] * 15, dtype=torch.float64)
    )


def test_p2_and_p6_pixel_sizes_match_the_interpretation() -> None:
    gen = _generator()
    p2 = gen.level_anchors(0, 1, 1, torch.device("cpu"), torch.float64)
    p6 = gen.level_anchors(4, 1, 1, torch.device("cpu"), torch.float64)
    side = lambda a: ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])).sqrt()  # noqa: E731
    assert side(p2)[:5].tolist() == pytest.approx([16, 28, 32, 40, 48])
    assert side(p6)[:5].tolist() == pytest.approx([256, 448, 512, 640, 768])


def test_grid_is_cached_per_feature_map_size() -> None:
    gen = _generator()
    a = gen.level_anchors(1, 4, 4, torch.device("cpu"), torch.float32)
    assert gen.level_anchors(1, 4, 4, torch.device("cpu"), torch.float32) is a
    assert gen.level_anchors(1, 4, 5, torch.device("cpu"), torch.float32) is not a
