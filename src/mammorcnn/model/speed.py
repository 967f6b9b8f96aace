"""Inference-only rewrites of a built model that keep its outputs (see docs/performance.md).

``optimize_for_inference(model)`` returns a copy in eval mode with the normalisation layers of
the ResNet folded into the preceding convolutions: in eval mode BatchNorm (and torchvision's
FrozenBatchNorm2d) is the per-channel affine map ``y = (x - mean) / sqrt(var + eps) * w + b``,
so ``conv -> bn`` equals one conv with weights scaled per output channel and a bias. That
removes one full read and write of every backbone activation (a 1024x1024 mammogram's stage-1
maps are 64 MB each). GroupNorm depends on the activations and is left alone; transformer
backbones have no BatchNorm. The original model is not touched, so it can keep training.
"""

from __future__ import annotations

from copy import deepcopy

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

_NORMS = (nn.BatchNorm2d, FrozenBatchNorm2d)


def fold_conv_bn(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """A conv computing ``bn(conv(x))`` of an eval-mode BatchNorm/FrozenBatchNorm2d."""
    eps = bn.eps
    scale = bn.weight.detach() * torch.rsqrt(bn.running_var.detach() + eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight.detach() * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean.detach()) * scale + bn.bias.detach())
    fused.requires_grad_(False)
    return fused


def _pairs(module: nn.Module) -> list[tuple[str, str]]:
    """(conv, norm) child names to fold in one module: torchvision ResNet's explicit pairs.

    Named pairs rather than "a norm after a conv in registration order" because registration
    order is not execution order in general; these are the pairs torchvision's ResNet stem,
    ``BasicBlock``, ``Bottleneck`` and ``downsample`` apply one right after the other.
    """
    pairs = []
    for i in (1, 2, 3):
        conv, norm = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
        if isinstance(conv, nn.Conv2d) and isinstance(norm, _NORMS):
            pairs.append((f"conv{i}", f"bn{i}"))
    if isinstance(module, nn.Sequential) and len(module) == 2:
        if isinstance(module[0], nn.Conv2d) and isinstance(module[1], _NORMS):
            pairs.append(("0", "1"))
    return pairs


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every ResNet conv/BN pair of ``model`` in place; returns how many were folded."""
    if model.training:
        raise ValueError("fold_batchnorm needs an eval-mode model (it uses running statistics)")
    folded = 0
    for module in list(model.modules()):
        for conv_name, norm_name in _pairs(module):
            conv, norm = getattr(module, conv_name), getattr(module, norm_name)
            setattr(module, conv_name, fold_conv_bn(conv, norm))
            setattr(module, norm_name, nn.Identity())
            folded += 1
    return folded


def optimize_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    test_proposals: int | None = None,
    copy: bool = True,
) -> nn.Module:
    """An eval-mode model with BN folded and the convolutions in channels_last format.

    ``channels_last`` stores the conv weights NHWC, so oneDNN runs the backbone, FPN, RPN head
    and mask head without reordering every activation (10-15 % of the backbone's time on the
    AVX2 machine of docs/performance.md). ``test_proposals`` (None: the model's config) sets
    the proposals kept per image after NMS at inference; docs/performance.md measures what
    fewer proposals cost in recall. ``copy=False`` rewrites ``model`` itself, so a deployment
    that only infers never holds two sets of weights (325 MB for the default model).
    """
    fast = deepcopy(model).eval() if copy else model.eval()
    if fold_bn:
        fold_batchnorm(fast)
    if channels_last:
        for part in (fast.backbone, fast.rpn.head, fast.roi_heads.mask_head):
            part.to(memory_format=torch.channels_last)
    if test_proposals is not None:
        if test_proposals < 1:
            raise ValueError(f"test_proposals must be >= 1, got {test_proposals}")
        fast.rpn._post_nms_top_n["testing"] = int(test_proposals)
    for param in fast.parameters():
        param.requires_grad_(False)
    return fast
