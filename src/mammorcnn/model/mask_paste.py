"""Paste m x m mask probabilities into the image by bilinear upscaling to each box.

Specification: docs/architecture.md §5.2.

Hand-written instead of torchvision's ``paste_masks_in_image``, which loops over masks in
Python, pads each mask by one pixel and resizes it with ``F.interpolate``. Bilinear resampling
is separable, so the paste of all K masks is two batched matrix products:
``out[k] = Ry[k] @ mask[k] @ Rx[k]^T`` where ``Ry`` (K, H, m) and ``Rx`` (K, W, m) hold the
1-D interpolation weights of every image row/column; rows/columns whose pixel centre lies
outside the box are all zero, so nothing is pasted outside the box. Cost ~ K*H*W*m flops,
memory = the (K, 1, H, W) output itself.
"""

from __future__ import annotations

import torch
from torch import Tensor


def interpolation_weights(lo: Tensor, hi: Tensor, length: int, m: int) -> Tensor:
    """(K, length, m) 1-D bilinear weights sampling an m-cell mask spanning [lo, hi).

    Pixel ``i`` (centre ``i + 0.5``) maps to mask coordinate
    ``t = (i + 0.5 - lo) / (hi - lo) * m - 0.5`` (cell centres at integers, as
    ``align_corners=False``), clamped to [0, m - 1] (edge values extend to the box border).
    """
    centres = torch.arange(length, device=lo.device, dtype=lo.dtype) + 0.5
    span = (hi - lo).clamp(min=1e-6)[:, None]
    t = (centres[None, :] - lo[:, None]) / span * m - 0.5
    inside = (centres[None, :] >= lo[:, None]) & (centres[None, :] < hi[:, None])
    t = t.clamp(0, m - 1)
    t0 = t.floor()
    frac = t - t0
    i0 = t0.long()
    i1 = (i0 + 1).clamp(max=m - 1)
    weights = lo.new_zeros((lo.shape[0], length, m))
    weights.scatter_add_(2, i0[..., None], (1 - frac)[..., None])
    weights.scatter_add_(2, i1[..., None], frac[..., None])
    return weights * inside[..., None].to(weights.dtype)


def paste_masks(masks: Tensor, boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """(K, 1, m, m) probabilities + (K, 4) boxes -> (K, 1, H, W) probabilities in the image."""
    height, width = image_size
    k = masks.shape[0]
    if k == 0:
        return masks.new_zeros((0, 1, height, width))
    m_h, m_w = masks.shape[-2:]
    boxes = boxes.to(masks.dtype)
    ry = interpolation_weights(boxes[:, 1], boxes[:, 3], height, m_h)  # (K, H, m)
    rx = interpolation_weights(boxes[:, 0], boxes[:, 2], width, m_w)  # (K, W, m)
    pasted = torch.bmm(torch.bmm(ry, masks[:, 0]), rx.transpose(1, 2))
    return pasted[:, None]
