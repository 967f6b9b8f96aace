"""Anchors on the FPN levels, with sizes in units of each level's stride.

Hand-written instead of ``torchvision.models.detection.anchor_utils.AnchorGenerator`` because
that class (a) takes sizes in pixels, (b) rounds the template anchors to integers, so widths
no longer equal ``size / sqrt(ratio)``, and (c) recomputes the grid on every call. This one
keeps the exact geometry, centres anchors in their cell and caches the grid per feature-map
size. The call signature and the ``num_anchors_per_location`` method match torchvision's, so
``torchvision``'s RPN code can consume it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from mammorcnn.model.config import LEVEL_STRIDES


def cell_anchors(sizes: tuple[float, ...], aspect_ratios: tuple[float, ...], stride: int) -> Tensor:
    """The (A, 4) anchors of one location centred on (0, 0), ratio-major order.

    ``size * stride`` is the side of a square of the same area; ratio = height / width, so
    ``w = size * stride / sqrt(ratio)`` and ``h = size * stride * sqrt(ratio)``.
    """
    rows = []
    for ratio in aspect_ratios:
        for size in sizes:
            w = size * stride / math.sqrt(ratio)
            h = size * stride * math.sqrt(ratio)
            rows.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(rows, dtype=torch.float64)


class PyramidAnchorGenerator(nn.Module):
    """Anchors for every location of every pyramid level, concatenated level after level.

    The order per level is (y, x, anchor), matching how the RPN head's outputs are flattened
    (``torchvision.models.detection.rpn.concat_box_prediction_layers``).
    """

    def __init__(
        self,
        sizes: tuple[float, ...],
        aspect_ratios: tuple[float, ...],
        strides: tuple[int, ...] = LEVEL_STRIDES,
        offset: float = 0.5,
    ) -> None:
        super().__init__()
        self.sizes = tuple(float(s) for s in sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.strides = tuple(int(s) for s in strides)
        self.offset = float(offset)
        self._cache: dict[tuple, Tensor] = {}

    def num_anchors_per_location(self) -> list[int]:
        """Anchors per location for each level (15 with the specification's values)."""
        return [len(self.sizes) * len(self.aspect_ratios)] * len(self.strides)

    def level_anchors(
        self, level: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> Tensor:
        """(height * width * A, 4) anchors of one level in image pixels; cached per size."""
        key = (level, height, width, str(device), dtype)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stride = self.strides[level]
        base = cell_anchors(self.sizes, self.aspect_ratios, stride)
        ys = (torch.arange(height, dtype=torch.float64) + self.offset) * stride
        xs = (torch.arange(width, dtype=torch.float64) + self.offset) * stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        anchors = (shifts + base.reshape(1, -1, 4)).reshape(-1, 4).to(device=device, dtype=dtype)
        if len(self._cache) > 64:  # bounded: image sizes are few in practice
            self._cache.clear()
        self._cache[key] = anchors
        return anchors

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        """One (sum_l H_l * W_l * A, 4) tensor per image, like torchvision's AnchorGenerator."""
        if len(feature_maps) != len(self.strides):
            raise ValueError(f"expected {len(self.strides)} feature maps, got {len(feature_maps)}")
        ref = feature_maps[0]
        per_level = [
            self.level_anchors(i, f.shape[-2], f.shape[-1], ref.device, ref.dtype)
            for i, f in enumerate(feature_maps)
        ]
        anchors = torch.cat(per_level, dim=0)
        return [anchors for _ in range(len(image_list.image_sizes))]
