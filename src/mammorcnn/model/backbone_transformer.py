"""Transformer backbones from timm giving the same P2..P6 pyramid as the ResNet.

Specification: docs/architecture.md §2.2.

- ``vit`` / ``deit``: a plain ViT has one stride-16 map (its last block); the "simple feature
  pyramid" of ViTDet (Li et al. 2022) derives strides 4/8/16/32 from it with 2x2
  deconvolutions / max pooling, then a 1x1 + 3x3 conv (LayerNorm) per level to ``fpn_channels``.
- ``swin``: the four hierarchical stages (strides 4..32) go through torchvision's
  ``FeaturePyramidNetwork`` exactly like ResNet's C2..C5.
P6 is a stride-2 subsample of P5 in both (``LastLevelMaxPool``), as for the ResNet.
timm builds every model with ``in_chans=1`` (timm sums RGB patch-embedding kernels when it
loads 3-channel pretrained weights) and ``pretrained=False`` unless weights are requested.
"""

from __future__ import annotations

from collections import OrderedDict

import timm
import torch.nn.functional as F
from timm.layers import LayerNorm2d
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from mammorcnn.errors import CheckpointError, ConfigError
from mammorcnn.model.config import LEVEL_NAMES, BackboneConfig

#: ResNet-50-sized default timm model per backbone name (overridable: ``timm_model``).
DEFAULT_TIMM_MODELS = {
    "vit": "vit_small_patch16_224",
    "deit": "deit_small_patch16_224",
    "swin": "swin_tiny_patch4_window7_224",
}


def create_timm_model(cfg: BackboneConfig, **kwargs: object) -> nn.Module:
    """timm model with the config's input channels; weights: None, "imagenet" (timm's tag)
    or a file."""
    name = cfg.timm_model or DEFAULT_TIMM_MODELS[cfg.name]
    args = dict(in_chans=cfg.in_channels, img_size=cfg.img_size, **kwargs, **cfg.timm_kwargs)
    if cfg.weights is None:
        return timm.create_model(name, pretrained=False, **args)
    overlay = None if cfg.weights == "imagenet" else {"file": cfg.weights}
    try:
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **args)
    except Exception as exc:  # timm raises many types for missing/corrupt/foreign files
        raise CheckpointError(cfg.weights, f"cannot load {name} weights: {exc}") from exc


def _conv_norm(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), LayerNorm2d(cout))


class SimpleFeaturePyramid(nn.Module):
    """ViT/DeiT last-block map (stride 16) -> p2..p6 (ViTDet's simple feature pyramid)."""

    def __init__(self, vit: nn.Module, out_channels: int) -> None:
        super().__init__()
        patch = vit.patch_embed.patch_size
        if tuple(patch) != (16, 16):
            raise ConfigError(f"model.backbone: ViT patch size must be 16, got {tuple(patch)}")
        self.body = vit
        d = vit.embed_dim
        self.scales = nn.ModuleList(
            [
                nn.Sequential(  # stride 4
                    nn.ConvTranspose2d(d, d // 2, 2, stride=2),
                    LayerNorm2d(d // 2),
                    nn.GELU(),
                    nn.ConvTranspose2d(d // 2, d // 4, 2, stride=2),
                ),
                nn.ConvTranspose2d(d, d // 2, 2, stride=2),  # stride 8
                nn.Identity(),  # stride 16
                nn.MaxPool2d(2),  # stride 32
            ]
        )
        widths = [d // 4, d // 2, d, d]
        self.outputs = nn.ModuleList(
            nn.Sequential(_conv_norm(w, out_channels, 1), _conv_norm(out_channels, out_channels, 3))
            for w in widths
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        (last,) = self.body.forward_intermediates(
            x, indices=1, norm=True, output_fmt="NCHW", intermediates_only=True
        )
        levels = [out(scale(last)) for scale, out in zip(self.scales, self.outputs)]
        levels.append(F.max_pool2d(levels[-1], kernel_size=1, stride=2))  # P6
        return OrderedDict(zip(LEVEL_NAMES, levels))


class HierarchicalFPN(nn.Module):
    """Swin stages (NHWC, strides 4..32) -> torchvision FPN -> p2..p6."""

    def __init__(self, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(
            body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        stages = [f.permute(0, 3, 1, 2).contiguous() for f in self.body(x)]
        pyramid = self.fpn(OrderedDict((str(i), f) for i, f in enumerate(stages)))
        return OrderedDict(zip(LEVEL_NAMES, pyramid.values()))


def build_transformer_fpn(cfg: BackboneConfig) -> nn.Module:
    """vit/deit -> :class:`SimpleFeaturePyramid`; swin -> :class:`HierarchicalFPN`."""
    if cfg.name == "swin":
        body = create_timm_model(
            cfg, features_only=True, out_indices=(0, 1, 2, 3), strict_img_size=False
        )
        return HierarchicalFPN(body, cfg.fpn_channels)
    body = create_timm_model(cfg, num_classes=0, dynamic_img_size=True)
    return SimpleFeaturePyramid(body, cfg.fpn_channels)
