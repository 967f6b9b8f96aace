"""Test-time scales: rescaled views mapped back onto the image and merged, against
hand-computed tensors (flip_merge.rescale_image, unscale_view and the Predictor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammorcnn.engine.inference.flip_merge import rescale_image, unscale_view
from mammorcnn.engine.inference.predictor import Predictor, check_scales
from mammorcnn.errors import ConfigError

from .stubs import BrightSpotModel, identity_item, stub_loaded


def test_rescale_rounds_to_whole_pixels_and_keeps_channels() -> None:
    image = torch.rand(1, 64, 48)
    assert rescale_image(image, 1.25).shape == (1, 80, 60)
    assert rescale_image(image, 0.7).shape == (1, 45, 34)  # 44.8 -> 45, 33.6 -> 34
    flat = torch.full((1, 10, 10), 0.3)
    assert torch.allclose(rescale_image(flat, 1.5), torch.full((1, 15, 15), 0.3))


def test_unscale_maps_boxes_per_axis_and_resizes_masks() -> None:
    masks = torch.zeros(1, 1, 128, 96)
    masks[0, 0, 40:42, 60:62] = 1.0  # 2x2 block -> one pixel of the 64x48 image
    output = {
        "boxes": torch.tensor([[60.0, 40.0, 62.0, 42.0]]),
        "scores": torch.tensor([0.8]),
        "labels": torch.tensor([1]),
        "masks": masks,
    }
    back = unscale_view(output, view_size=(128, 96), size=(64, 48))
    assert back["boxes"].tolist() == [[30.0, 20.0, 31.0, 21.0]]
    assert back["masks"].shape == (1, 1, 64, 48)
    # bilinear 2x down-sampling samples input (2j + 0.5): pixel (20, 30) reads rows/cols 40..41
    assert back["masks"][0, 0, 20, 30] == pytest.approx(1.0)
    assert back["masks"].sum() == pytest.approx(1.0)
    assert back["scores"] is output["scores"]
    empty = {**output, "boxes": torch.zeros(0, 4), "masks": torch.zeros(0, 1, 128, 96)}
    assert unscale_view(empty, (128, 96), (64, 48))["masks"].shape == (0, 1, 64, 48)


def test_predictor_merges_a_rescaled_view_in_the_image_coordinates() -> None:
    size = 64
    loaded = stub_loaded(BrightSpotModel(), size=size)
    image = np.zeros((size, size), dtype=np.float32)
    image[20, 30] = 1.0
    item = identity_item(image)

    (plain,) = Predictor(loaded, score_threshold=0.0, test_time_scales=[1.0]).run([item])
    assert plain["boxes"].tolist() == [[26.5, 16.5, 34.5, 24.5], [0, 0, 8, 8]]
    (merged,) = Predictor(loaded, score_threshold=0.0, test_time_scales=[1.0, 2.0]).run([item])
    # At 2x the spot's four pixels 40..41 x 60..61 tie (0.75^2); argmax takes (40, 60): box
    # (52.5, 32.5, 68.5, 48.5) / 2 = (26.25, 16.25, 34.25, 24.25), fused with the plain box at
    # equal weights. The fixed box comes back as (0, 0, 4, 4): IoU 0.25 with (0, 0, 8, 8),
    # so each is a finding one view of two saw: 0.6 / 2.
    assert merged["scores"].tolist() == pytest.approx([0.9, 0.3, 0.3])
    assert merged["boxes"][0].tolist() == pytest.approx([26.375, 16.375, 34.375, 24.375])
    assert sorted(b.tolist() for b in merged["boxes"][1:]) == [[0, 0, 4, 4], [0, 0, 8, 8]]
    # mask at (20, 30): the plain view's 1 and the 2x view's (40, 60) read back as 0.5 x 0.5
    assert merged["masks"][0, 0, 20, 30] == pytest.approx((1.0 + 0.25) / 2)
    # with the flip as well: four views, and the spot seen in all of them
    (four,) = Predictor(
        loaded, score_threshold=0.5, test_time_flip=True, test_time_scales=[1.0, 2.0]
    ).run([item])
    assert four["scores"].tolist() == pytest.approx([0.9])
    # no argument: the checkpoint's config decides
    loaded.model_config.box_head.test_time_scales = (1.0, 2.0)
    (default,) = Predictor(loaded, score_threshold=0.0).run([item])
    assert default["scores"].tolist() == pytest.approx([0.9, 0.3, 0.3])


def test_scales_are_refused_outside_their_range() -> None:
    assert check_scales([1, 1.25]) == (1.0, 1.25)
    for bad in ([], [0.1], [1.0, 5.0]):
        with pytest.raises(ConfigError, match="--test-time-scales"):
            check_scales(bad)


def test_config_reads_scales_from_an_override_and_refuses_bad_ones(tmp_path) -> None:
    from mammorcnn.config import load_config

    config = load_config(None, ["model.box_head.test_time_scales=[1, 1.25]"])
    assert config.model.box_head.test_time_scales == (1.0, 1.25)
    assert load_config(None, []).model.box_head.test_time_scales == (1.0,)
    for bad in ("[]", "[0.2]"):
        with pytest.raises(ConfigError, match="test_time_scales"):
            load_config(None, [f"model.box_head.test_time_scales={bad}"])
