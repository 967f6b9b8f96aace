"""Pasting 14x14 probabilities into the image: bilinear upscaling inside the box only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import paste_masks_in_image

from mammorcnn.model.mask_paste import paste_masks


def test_paste_equals_bilinear_resize_for_a_pixel_aligned_box() -> None:
    masks = torch.rand(2, 1, 14, 14, dtype=torch.float64)
    boxes = torch.tensor([[10.0, 5.0, 38.0, 47.0], [0.0, 0.0, 14.0, 14.0]], dtype=torch.float64)
    out = paste_masks(masks, boxes, (60, 50))
    assert out.shape == (2, 1, 60, 50)
    resized = F.interpolate(masks[:1], size=(42, 28), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[0, 0, 5:47, 10:38], resized[0, 0])
    torch.testing.assert_close(out[1, 0, :14, :14], masks[1, 0])
    inside = torch.zeros(60, 50, dtype=torch.bool)
    inside[5:47, 10:38] = True
    assert (out[0, 0][~inside] == 0).all()


def test_paste_handles_fractional_boxes_and_boxes_touching_the_border() -> None:
    masks = torch.ones(2, 1, 14, 14)
    boxes = torch.tensor([[3.2, 4.7, 20.4, 9.1], [40.0, 30.0, 80.0, 90.0]])
    out = paste_masks(masks, boxes, (64, 64))
    expected = torch.zeros(64, 64)
    expected[5:9, 3:20] = 1  # pixel centres i + 0.5 inside [x1, x2)
    torch.testing.assert_close(out[0, 0], expected)
    assert out[1, 0, 30:, 40:].eq(1).all() and out[1, 0, :30].eq(0).all()


def test_paste_agrees_with_torchvision_on_the_mask_interior() -> None:
    torch.manual_seed(0)
    # smooth masks (upsampled 3x3 noise): sub-pixel convention differences stay small
    masks = F.interpolate(
        torch.rand(5, 1, 3, 3), size=(14, 14), mode="bilinear", align_corners=True
    )
    xy = torch.rand(5, 2) * 60
    boxes = torch.cat([xy, xy + 20 + torch.rand(5, 2) * 40], dim=1)
    ours = paste_masks(masks, boxes, (128, 128))
    ref = paste_masks_in_image(masks, boxes, (128, 128), padding=1)
    # Same bilinear upscaling; conventions differ only within a pixel or so of the box edge.
    for k, (x1, y1, x2, y2) in enumerate(boxes.round().int().tolist()):
        core_ours = ours[k, 0, y1 + 3 : y2 - 3, x1 + 3 : x2 - 3]
        core_ref = ref[k, 0, y1 + 3 : y2 - 3, x1 + 3 : x2 - 3]
        assert (core_ours - core_ref).abs().max() < 0.05


def test_no_detections_give_an_empty_tensor() -> None:
    out = paste_masks(torch.zeros(0, 1, 14, 14), torch.zeros(0, 4), (32, 48))
    assert out.shape == (0, 1, 32, 48)
