"""mammorcnn.model: the specification's Mask R-CNN (see docs/architecture.md)."""

from mammorcnn.model.build import MaskRCNN, build_model
from mammorcnn.model.config import (
    AnchorConfig,
    BackboneConfig,
    BoxHeadConfig,
    MaskHeadConfig,
    ModelConfig,
    RPNConfig,
    tiny_config,
)

__all__ = [
    "AnchorConfig",
    "BackboneConfig",
    "BoxHeadConfig",
    "MaskHeadConfig",
    "MaskRCNN",
    "ModelConfig",
    "RPNConfig",
    "build_model",
    "tiny_config",
]
