"""RoI features of each box beside those of the same box enlarged around its centre.

Why: a mass is told from dense tissue by how it stands out from what surrounds it, and the
specification's 7x7 RoI features cover the box alone. On mini-MIAS the recipe's false marks
have the size, shape and mask fill of the true ones, so the detection head may lack the
surroundings, not capacity (a 4x wider FC did not help). Measured there at 2x and 1.5x it did
not help either (docs/results.md, item 23; docs/training.md, "Context around the box"). Off
by default (``model.box_head.context_scale: null``, the specification); an option of the
detection head only, the mask head keeps the box's own features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def enlarged(boxes: Tensor, scale: float) -> Tensor:
    """(N, 4) x1, y1, x2, y2 boxes grown ``scale`` times in width and height about their
    centres, not clipped: RoI Align reads zeros beyond the image, so a box's context has the
    same geometry wherever the box lies."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return torch.cat([centre - half, centre + half], dim=1)


class ContextRoIAlign(nn.Module):
    """(N, 2C, S, S): ``pool``'s features of each box, then of the box ``scale`` times larger.

    The enlarged box goes to the pyramid level of its own size (the FPN rule), so its S x S
    bins sample the wider area as coarsely as a box of that size would be.
    """

    def __init__(self, pool: nn.Module, scale: float) -> None:
        super().__init__()
        if scale <= 1:
            raise ValueError(f"context scale must be > 1, got {scale}")
        self.pool = pool
        self.scale = float(scale)

    def forward(
        self,
        features: dict[str, Tensor],
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]] | None = None,
    ) -> Tensor:
        wide = [enlarged(b, self.scale) for b in boxes]
        return torch.cat(
            [self.pool(features, boxes, image_shapes), self.pool(features, wide, image_shapes)],
            dim=1,
        )
