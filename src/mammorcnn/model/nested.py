"""Suppression of nested detections: one mark per finding.

Box-IoU NMS (IoU 0.5) keeps a small box inside a large one: their IoU is the ratio of their
areas, often under 0.5, although both point at the same finding. On mammograms the detector
marks one dense region at several scales this way, and every extra mark off a mass is a false
positive in the FROC (on mini-MIAS they were most of them; docs/results.md). This drops a
detection when a higher-scoring detection of its class covers more than a threshold of it:
the intersection over the smaller box's area (the overlap coefficient), 1 for a box inside
another whatever their sizes.

Unlike greedy NMS, a dropped detection still drops the lower ones it covers, so the rule is a
few tensor operations (exportable, no loop over detections); with few detections per image
the difference from the greedy rule is small (docs/results.md measured both).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_area

from mammorcnn.errors import ConfigError


def check_threshold(value: float, option: str) -> float:
    """``value`` if it is a usable threshold (within (0, 1]), else a ConfigError naming
    ``option``: checked where it is given, before hours of training reach its use."""
    if not 0 < value <= 1:
        raise ConfigError(f"{option} must be within (0, 1], got {value}")
    return value


def not_nested(boxes: Tensor, scores: Tensor, labels: Tensor, threshold: float) -> Tensor:
    """Boolean mask of the detections to keep: those that no higher-scoring detection of the
    same label overlaps by more than ``threshold`` of the smaller box's area (ties: the
    earlier detection counts as higher)."""
    n = boxes.shape[0]
    if n == 0:
        return torch.ones(0, dtype=torch.bool, device=boxes.device)
    area = box_area(boxes)
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(2)
    smaller = torch.minimum(area[:, None], area[None, :]).clamp(min=1e-9)
    covered = inter / smaller > threshold
    index = torch.arange(n, device=boxes.device)
    # higher[i, j]: detection j ranks above detection i
    higher = (scores[None, :] > scores[:, None]) | (
        (scores[None, :] == scores[:, None]) & (index[None, :] < index[:, None])
    )
    same = labels[:, None] == labels[None, :]
    return ~(covered & higher & same).any(1)
