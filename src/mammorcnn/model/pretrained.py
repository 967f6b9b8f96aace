"""Pretrained initialisation: ImageNet ResNets and torchvision COCO Mask R-CNN checkpoints.

Files are read only with ``torch.load(weights_only=True)`` or safetensors (no pickled code).
Loading is by name and shape: every tensor that fits is copied, everything else is reported
in a :class:`LoadReport` (the 1000-class ImageNet ``fc``, COCO's 91-class predictors, the
1-sigmoid RPN logits, the 1024-wide two-FC box head, the mask deconvolution, ...). RGB ``conv1``
kernels are summed over the input channels, so a grey image x gives the response the RGB
network had for the image (x, x, x).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision import models
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

from mammorcnn.errors import CheckpointError
from mammorcnn.model.config import RESNET_NAMES

log = logging.getLogger(__name__)

_IMAGENET_WEIGHTS = {
    "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": models.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": models.ResNet50_Weights.IMAGENET1K_V1,
    "resnet101": models.ResNet101_Weights.IMAGENET1K_V1,
}
# Old torchvision names (checkpoints saved before the modules were versioned) -> current names.
_LEGACY_MASK_FCN = re.compile(r"^(roi_heads\.mask_head\.)mask_fcn(\d+)\.(weight|bias)$")
_LEGACY_RPN_CONV = re.compile(r"^(rpn\.head\.conv)\.(weight|bias)$")


@dataclass
class LoadReport:
    """What a pretrained load did: tensors copied, checkpoint tensors skipped (with why)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # model tensors the checkpoint lacks

    def summary(self) -> str:
        return (
            f"{self.source}: loaded {len(self.loaded)} tensors, skipped {len(self.skipped)}, "
            f"{len(self.missing)} model tensors not in the checkpoint"
        )


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a .safetensors or torch-saved (weights-only) file; wrappers are unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or containing pickled objects
        raise CheckpointError(
            path, f"cannot read checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    for wrapper in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _one_channel_conv1(state: dict[str, Tensor], key: str, channels: int = 1) -> None:
    """RGB conv1 -> the film's channel (the sum: a grey image is R = G = B); a second input
    channel (the other breast) starts at zero, so the model starts as the one-film model."""
    weight = state.get(key)
    if weight is not None and weight.dim() == 4 and weight.shape[1] == 3:
        film = weight.sum(dim=1, keepdim=True)
        extra = film.new_zeros((film.shape[0], channels - 1, *film.shape[2:]))
        state[key] = torch.cat([film, extra], dim=1)


def load_matching(model: nn.Module, state: dict[str, Tensor], source: str) -> LoadReport:
    """Copy every tensor of ``state`` whose name and shape match the model's; report the rest."""
    report = LoadReport(source)
    own = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            target = own.get(key)
            if target is None:
                report.skipped[key] = "not in model"
            elif target.shape != value.shape:
                report.skipped[key] = f"shape {tuple(value.shape)} != {tuple(target.shape)}"
            else:
                target.copy_(value.to(target.dtype))
                report.loaded.append(key)
    report.missing = [k for k in own if k not in state]
    log.info(report.summary())
    return report


def load_imagenet_backbone(model: nn.Module, source: str | Path = "imagenet") -> LoadReport:
    """Load an ImageNet ResNet (torchvision key names) into ``model.backbone.body``.

    ``source``: "imagenet" (torchvision's weights enum for the config's ResNet; downloads) or a
    local .pth/.pt/.safetensors file. Keys may carry a ``backbone.body.`` prefix or none.
    """
    if str(source) == "imagenet":
        weights = _IMAGENET_WEIGHTS[model.config.backbone.name]
        try:
            state = weights.get_state_dict(progress=False)
        except Exception as exc:  # offline, proxy, corrupt cache
            raise CheckpointError(weights.url, f"cannot download ImageNet weights: {exc}") from exc
    else:
        state = read_state_dict(source)
    state = {"backbone.body." + k.removeprefix("backbone.body."): v for k, v in state.items()}
    _one_channel_conv1(state, "backbone.body.conv1.weight", model.config.backbone.in_channels)
    return load_matching(model, state, str(source))


def _rename_legacy(key: str) -> str:
    match = _LEGACY_MASK_FCN.match(key)
    if match:
        return f"{match[1]}{int(match[2]) - 1}.0.{match[3]}"
    return _LEGACY_RPN_CONV.sub(r"\1.0.0.\2", key)


def load_coco_maskrcnn(model: nn.Module, source: str | Path = "coco") -> LoadReport:
    """Initialise from a torchvision Mask R-CNN (COCO) state dict, wherever shapes fit.

    ``source``: "coco" (``MaskRCNN_ResNet50_FPN_Weights.COCO_V1``; downloads) or a local file
    saved from ``torchvision.models.detection.maskrcnn_resnet50_fpn``.
    """
    if str(source) == "coco":
        weights = MaskRCNN_ResNet50_FPN_Weights.COCO_V1
        try:
            state = weights.get_state_dict(progress=False)
        except Exception as exc:
            raise CheckpointError(weights.url, f"cannot download COCO weights: {exc}") from exc
    else:
        state = read_state_dict(source)
    state = {_rename_legacy(k): v for k, v in state.items()}
    _one_channel_conv1(state, "backbone.body.conv1.weight", model.config.backbone.in_channels)
    return load_matching(model, state, str(source))


def apply_pretrained(model: nn.Module) -> list[LoadReport]:
    """Load what ``model.config`` names: ImageNet backbone first, then the COCO checkpoint.

    Transformer backbone weights are loaded by timm when the backbone is built. The reports
    are also kept on ``model.load_reports``.
    """
    cfg = model.config
    reports = []
    if cfg.backbone.weights is not None and cfg.backbone.name in RESNET_NAMES:
        reports.append(load_imagenet_backbone(model, cfg.backbone.weights))
    if cfg.init_checkpoint is not None:
        reports.append(load_coco_maskrcnn(model, cfg.init_checkpoint))
    model.load_reports = reports
    return reports
