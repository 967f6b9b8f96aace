"""Mask head: four 3x3 convs + ReLU, then a 1x1 conv to C masks of 14x14.

Specification: docs/architecture.md §5.2.

The four convs are torchvision's ``MaskRCNNHeads``. The predictor is hand-written: torchvision's
``MaskRCNNPredictor`` upsamples with a 2x2 deconvolution to 28x28, the specification has no
deconvolution (14x14 masks straight from a 1x1 conv; the bilinear paste does the upscaling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
from torchvision.ops import roi_align

from mammorcnn.model.norms import norm_layer


def build_mask_head(
    in_channels: int, conv_channels: int, conv_layers: int, norm: str | None = None
) -> MaskRCNNHeads:
    """``conv_layers`` x (3x3 conv ``conv_channels`` [+ ``norm``] + ReLU), torchvision's module
    and names."""
    layers = [conv_channels] * conv_layers
    return MaskRCNNHeads(in_channels, layers, dilation=1, norm_layer=norm_layer(norm))


class MaskPredictor(nn.Module):
    """1x1 conv giving one mask logit map per object class: (N, C, 14, 14)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.mask_fcn_logits = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        # Small init (Detectron2's choice) keeps the initial mask loss near log(2).
        nn.init.normal_(self.mask_fcn_logits.weight, std=0.001)
        nn.init.zeros_(self.mask_fcn_logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.mask_fcn_logits(x)


def mask_targets(
    gt_masks: Tensor, boxes: Tensor, matched_idxs: Tensor, size: int, threshold: float
) -> Tensor:
    """(N, size, size) binary targets: each RoI's matched GT mask cropped to the RoI and resized.

    Uses ``roi_align`` on the mask (like torchvision's ``project_masks_on_boxes``) with
    ``aligned=True`` to match the feature pooling, averaging the mask over each target cell
    (adaptive sampling), then thresholds so targets are binary as in docs/architecture.md §5.2.
    """
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, size, size))
    rois = torch.cat([matched_idxs[:, None].to(boxes.dtype), boxes], dim=1)
    masks = gt_masks[:, None].to(dtype=boxes.dtype)
    cropped = roi_align(
        masks, rois, (size, size), spatial_scale=1.0, sampling_ratio=0, aligned=True
    )
    return (cropped[:, 0] >= threshold).to(boxes.dtype)


def mask_loss(mask_logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """Mean per-pixel BCE of the ground-truth class's channel over all m x m pixels and RoIs.

    The other classes' channels never enter the loss. With no RoI it is 0 (kept in the graph).
    """
    if targets.shape[0] == 0:
        return mask_logits.sum() * 0.0
    logits = mask_logits[torch.arange(labels.shape[0], device=labels.device), labels - 1]
    return F.binary_cross_entropy_with_logits(logits, targets)
