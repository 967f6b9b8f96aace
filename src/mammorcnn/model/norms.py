"""The normalisation layers a config names: model.backbone.norm, fpn_norm, mask_head.norm.

One table, so the ResNet, the FPN and the mask head build the same GroupNorm (32 groups, as
He, Girshick and Dollar 2019 and torchvision's detection models use).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from mammorcnn.model.config import GROUPS

NORM_LAYERS: dict[str, Callable[[int], nn.Module]] = {
    "frozen_bn": FrozenBatchNorm2d,
    "bn": nn.BatchNorm2d,
    "gn": partial(nn.GroupNorm, GROUPS),
}


def norm_layer(name: str | None) -> Callable[[int], nn.Module] | None:
    """The layer a config's norm names, or None (no norm) when it is unset."""
    return NORM_LAYERS[name] if name else None
