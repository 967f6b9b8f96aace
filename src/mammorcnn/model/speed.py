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
from typing import Any

import torch
from torch import Tensor, nn
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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 dot products natively (AVX512_BF16 or AMX).

    Without them oneDNN emulates bfloat16 and ``bf16=True`` is slower, not faster.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _to_float32(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return type(value)((k, _to_float32(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    return value


class Bf16Autocast(nn.Module):
    """Runs ``inner`` under bfloat16 autocast (on its parameters' device) and hands float32 back.

    Only the heavy convolution/FC stages are wrapped (backbone + FPN, RPN 3x3 conv, box FC,
    mask convs): the predictors that produce box deltas and scores stay float32. Box decoding
    in bfloat16 (8-bit mantissa) would round 1024-px coordinates to 4 px.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any) -> Any:
        # The parameters' device picks the autocast: a CPU context would leave CUDA in float32.
        device = next(self.inner.parameters()).device.type
        with torch.autocast(device, dtype=torch.bfloat16):
            out = self.inner(*args)
        return _to_float32(out)


class _Bf16RPNHead(nn.Module):
    """The RPN head with its shared 3x3 conv in bfloat16 and the 1x1 predictors in float32."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.conv = Bf16Autocast(head.conv)
        self.cls_logits, self.bbox_pred = head.cls_logits, head.bbox_pred

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        hidden = [self.conv(f) for f in features]
        return [self.cls_logits(t) for t in hidden], [self.bbox_pred(t) for t in hidden]


def use_bf16(model: nn.Module) -> None:
    """Wrap the model's heavy stages in :class:`Bf16Autocast` (in place, inference only)."""
    model.backbone = Bf16Autocast(model.backbone)
    model.rpn.head = _Bf16RPNHead(model.rpn.head)
    model.roi_heads.box_head = Bf16Autocast(model.roi_heads.box_head)
    model.roi_heads.mask_head = Bf16Autocast(model.roi_heads.mask_head)


def optimize_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    test_proposals: int | None = None,
    bf16: bool = False,
    copy: bool = True,
) -> nn.Module:
    """An eval-mode model with BN folded and the convolutions in channels_last format.

    ``channels_last`` stores the conv weights NHWC, so oneDNN runs the backbone, FPN, RPN head
    and mask head without reordering every activation (10-15 % of the backbone's time on the
    AVX2 machine of docs/performance.md). ``test_proposals`` (None: the model's config) sets
    the proposals kept per image after NMS at inference; docs/performance.md measures what
    fewer proposals cost in recall. ``copy=False`` rewrites ``model`` itself, so a deployment
    that only infers never holds two sets of weights (325 MB for the default model).
    ``bf16`` runs the convolutions and the FC in bfloat16 (see :class:`Bf16Autocast`); it
    halves the time on CPUs with AVX512_BF16/AMX (:func:`cpu_has_bf16`) and costs accuracy
    measured in docs/performance.md. Not for export: the graphs are float32.
    """
    fast = deepcopy(model).eval() if copy else model.eval()
    if fold_bn:
        fold_batchnorm(fast)
    if channels_last:
        for part in (fast.backbone, fast.rpn.head, fast.roi_heads.mask_head):
            part.to(memory_format=torch.channels_last)
    if test_proposals is not None:
        fast.set_test_proposals(test_proposals)  # keeps fast.config true
    if bf16:
        use_bf16(fast)
    for param in fast.parameters():
        param.requires_grad_(False)
    return fast
