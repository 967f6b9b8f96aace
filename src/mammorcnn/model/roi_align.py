"""Multi-level RoI Align without quantisation, mapped to FPN levels by eq. 1 of FPN.

Specification: docs/architecture.md §4.

Hand-written thin wrapper instead of ``torchvision.ops.MultiScaleRoIAlign`` because that class
calls ``roi_align`` with ``aligned=False`` (the half-pixel offset of the original Detectron
code: sample points land half a pixel off) and infers, then freezes, the level scales from the
first batch it sees. Here the strides are fixed by the backbone and ``aligned=True``: a box
``[x1, x2)`` in image pixels covers feature coordinates ``x1 / stride - 0.5 ...``, so bin
sample points fall exactly where the specification's sampling rule puts them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper, _convert_to_roi_format


class PyramidRoIAlign(nn.Module):
    """RoI Align over named pyramid levels with known strides (P2..P5 by default)."""

    def __init__(
        self,
        featmap_names: tuple[str, ...],
        strides: tuple[int, ...],
        output_size: int,
        sampling_ratio: int,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        self.featmap_names = tuple(featmap_names)
        self.strides = tuple(int(s) for s in strides)
        self.output_size = (int(output_size), int(output_size))
        self.sampling_ratio = int(sampling_ratio)
        k_min = round(math.log2(self.strides[0]))
        k_max = round(math.log2(self.strides[-1]))
        # LevelMapper: k = floor(k0 + log2(sqrt(w*h) / 224)) clamped to [k_min, k_max],
        # returned as an index into featmap_names.
        self.mapper = LevelMapper(k_min, k_max, canonical_scale, canonical_level)

    def forward(
        self,
        features: dict[str, Tensor],
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]] | None = None,
    ) -> Tensor:
        """(sum N_i, C, S, S) features for the boxes (x1, y1, x2, y2 in image pixels)."""
        maps = [features[name] for name in self.featmap_names]
        rois = _convert_to_roi_format(boxes)
        result = maps[0].new_zeros((rois.shape[0], maps[0].shape[1], *self.output_size))
        # While tracing (ONNX/TorchScript export) the shortcuts below would be frozen into the
        # graph with the RoI counts of the example input, so every level is always pooled.
        tracing = torch.jit.is_tracing()
        if rois.shape[0] == 0 and not tracing:
            return result
        levels = self.mapper(boxes)
        for level, (feature, stride) in enumerate(zip(maps, self.strides)):
            idx = torch.where(levels == level)[0]
            if idx.numel() == 0 and not tracing:
                continue
            pooled = roi_align(
                feature,
                rois[idx],
                output_size=self.output_size,
                spatial_scale=1.0 / stride,
                sampling_ratio=self.sampling_ratio,
                aligned=True,
            )
            if tracing:  # index_put of a 1-RoI level is traced as a fixed-size view
                index = idx.view(-1, 1, 1, 1).expand_as(pooled)
                result = result.scatter(0, index, pooled.to(result.dtype))
            else:
                result[idx] = pooled.to(result.dtype)
        return result
