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
from mammorcnn.model.pretrained import (
    LoadReport,
    apply_pretrained,
    load_coco_maskrcnn,
    load_imagenet_backbone,
    read_state_dict,
)

__all__ = [
    "AnchorConfig",
    "BackboneConfig",
    "BoxHeadConfig",
    "LoadReport",
    "MaskHeadConfig",
    "MaskRCNN",
    "ModelConfig",
    "RPNConfig",
    "apply_pretrained",
    "build_model",
    "load_coco_maskrcnn",
    "load_imagenet_backbone",
    "read_state_dict",
    "tiny_config",
]
