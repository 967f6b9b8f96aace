"""ResNet with a 1- (or 2-) channel stem + FPN producing P2..P6 (docs/architecture.md §2.1).

torchvision parts: the ResNet, ``BackboneWithFPN`` (1x1 laterals to 256, nearest top-down
upsampling + addition, 3x3 smoothing) and ``LastLevelMaxPool`` for P6 (a stride-2 subsample
of P5, as in the FPN paper, used by the RPN only). Parameter names stay torchvision's
(``body.*``, ``fpn.*``) so ImageNet and COCO checkpoints map onto them.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.models import resnet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from mammorcnn.model.config import LEVEL_NAMES
from mammorcnn.model.norms import NORM_LAYERS, norm_layer

_RESNETS = {
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
}


class PyramidBackbone(BackboneWithFPN):
    """``BackboneWithFPN`` whose output levels are named p2..p6."""

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return OrderedDict(zip(LEVEL_NAMES, super().forward(x).values()))


def freeze_stages(model: nn.Module, trainable_layers: int) -> None:
    """Freeze all but the top ``trainable_layers`` stages (5 = stem included), as torchvision."""
    trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        trainable.append("bn1")
    for name, param in model.named_parameters():
        if all(not name.startswith(layer) for layer in trainable):
            param.requires_grad_(False)


def build_resnet_fpn(
    name: str,
    norm: str,
    trainable_layers: int,
    out_channels: int = 256,
    in_channels: int = 1,
    fpn_norm: str | None = None,
    zero_init_residual: bool = False,
) -> PyramidBackbone:
    """A torchvision ResNet whose conv1 takes ``in_channels`` (the film, and the other breast
    when 2), wrapped in an FPN (P2..P6) whose convs are followed by ``fpn_norm`` if given;
    ``zero_init_residual`` starts each residual block as the identity (torchvision's option)."""
    body = _RESNETS[name](
        weights=None, norm_layer=NORM_LAYERS[norm], zero_init_residual=zero_init_residual
    )
    body.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(body.conv1.weight, mode="fan_out", nonlinearity="relu")
    freeze_stages(body, trainable_layers)
    stage2 = body.inplanes // 8  # 256 for ResNet-50, 64 for ResNet-18/34
    return PyramidBackbone(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[stage2, stage2 * 2, stage2 * 4, stage2 * 8],
        out_channels=out_channels,
        extra_blocks=LastLevelMaxPool(),
        norm_layer=norm_layer(fpn_norm),
    )
