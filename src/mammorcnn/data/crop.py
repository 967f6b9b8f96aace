"""Training crops: a window around a lesion, or anywhere in the breast.

Why: a mass covers a few percent of a mammogram, so a whole-image step spends almost all of
its compute on tissue the model already calls normal, and a small set shows each mass only
once per epoch. Training on crops (the model is convolutional; inference stays whole-image)
shows each mass many times per minute of compute, at the model's resolution, and the random
breast crops keep showing it normal tissue of every kind (docs/training.md, "Crops").

torchvision's ``RandomCrop``/``RandomIoUCrop`` cannot aim at a chosen instance, hence this.
It runs on the preprocessed tensors before the v2 augmentation, so flips, affine and intensity
changes then act on the crop; boxes are re-derived from the cropped masks.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def _randint(low: int, high: int) -> int:
    """Uniform integer in [low, high] from torch's RNG (seeded per worker and resumable)."""
    return int(torch.randint(low, high + 1, ()).item()) if high > low else low


def _start_covering(lo_edge: float, hi_edge: float, size: int, limit: int) -> int:
    """Window start along one axis so that [lo_edge, hi_edge) lies inside [start, start+size)
    when it fits (uniform over those starts), else a window centred on the span's middle."""
    low = max(0, math.ceil(hi_edge) - size)
    high = min(limit - size, math.floor(lo_edge))
    if low <= high:
        return _randint(low, high)
    centre = (lo_edge + hi_edge) / 2
    return int(min(max(round(centre - size / 2), 0), limit - size))


class LesionCrop:
    """``(image 1xHxW, target) -> (image 1xhxw, target)`` with h = min(size, H), w likewise.

    With probability ``lesion_prob`` (when the image has lesions) the window holds one lesion,
    chosen uniformly, whole when it fits and at a uniformly random place; otherwise the window
    is centred on a random breast pixel (value > 0), clipped to the image. Instances cut to
    nothing are removed; a cut one keeps the part inside the window.
    """

    def __init__(self, size: int, lesion_prob: float) -> None:
        self.size, self.lesion_prob = size, lesion_prob

    def window(self, image: torch.Tensor, boxes: torch.Tensor) -> tuple[int, int, int, int]:
        """(x0, y0, w, h) of the crop for this image and its boxes (x1, y1, x2, y2)."""
        height, width = image.shape[-2:]
        ch, cw = min(self.size, height), min(self.size, width)
        if len(boxes) and float(torch.rand(())) < self.lesion_prob:
            x1, y1, x2, y2 = boxes[_randint(0, len(boxes) - 1)].tolist()
            return _start_covering(x1, x2, cw, width), _start_covering(y1, y2, ch, height), cw, ch
        inside = torch.nonzero(image[0] > 0)
        if len(inside) == 0:  # an empty frame: any window is as good
            return _randint(0, width - cw), _randint(0, height - ch), cw, ch
        cy, cx = inside[_randint(0, len(inside) - 1)].tolist()
        x0 = min(max(cx - cw // 2, 0), width - cw)
        y0 = min(max(cy - ch // 2, 0), height - ch)
        return x0, y0, cw, ch

    def __call__(
        self, image: torch.Tensor, target: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        boxes = target["boxes"]
        x0, y0, cw, ch = self.window(image, boxes)
        out = dict(target)
        shifted = boxes - torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype)
        shifted[:, 0::2] = shifted[:, 0::2].clamp(0, cw)
        shifted[:, 1::2] = shifted[:, 1::2].clamp(0, ch)
        masks = target["masks"][:, y0 : y0 + ch, x0 : x0 + cw]
        valid = target.get("mask_valid", torch.ones(len(boxes), dtype=torch.bool)).bool()
        # A real mask decides whether its lesion is still in the window; a box-only instance
        # (empty placeholder mask) is kept while its clipped box has an area.
        has_pixels = (
            masks.flatten(1).bool().any(1) if len(masks) else torch.zeros(0, dtype=torch.bool)
        )
        has_area = (shifted[:, 2] > shifted[:, 0]) & (shifted[:, 3] > shifted[:, 1])
        keep = torch.where(valid, has_pixels, has_area)
        out["boxes"], out["masks"] = shifted[keep], masks[keep].contiguous()
        out["labels"], out["mask_valid"] = target["labels"][keep], valid[keep]
        return image[:, y0 : y0 + ch, x0 : x0 + cw].contiguous(), out
