"""The benchmarked variants: ours with optional speed-ups, its backbone alone, torchvision's.

A variant is named by tokens joined with ``+`` so that one interleaved run can compare a chain
of single changes, e.g. ``ours ours+im ours+im+fold tv``:

- ``ours``: ``build_model()`` (the specification's defaults), eval, under ``torch.no_grad``.
- ``tv``: ``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=2,
  min_size=S, max_size=S)`` on the same image repeated to 3 channels, under ``no_grad``.
- ``+bb``: only normalisation + backbone + FPN (the compute floor of the whole forward).
- ``+im``: ``torch.inference_mode`` instead of ``no_grad``.
- ``+fold``: BatchNorm folded into the convolutions (``mammorcnn.model.speed``).
- ``+cl``: channels_last memory format for the convolutional parts.
- ``+pN`` / ``+qN``: N proposals kept after NMS per image / before NMS per level at test time.
- ``+bf16``: ours: ``optimize_for_inference(bf16=True)`` (convs and FC in bfloat16, the
  predictors and box decoding in float32); tv: the whole forward under CPU bfloat16 autocast.
  Pays only on CPUs with AVX512_BF16 or AMX (``grep -o avx512_bf16 /proc/cpuinfo``).
- ``+fast``: ``optimize_for_inference`` with its defaults (BN folded, channels_last) and
  ``inference_mode``: what a deployment would use.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Variant:
    """A built model and how to call it on the benchmark's batch."""

    name: str
    model: nn.Module
    infer: Callable[[], object]
    train_step: Callable[[], object] | None = None


def parse(name: str) -> tuple[str, set[str], dict[str, int]]:
    """``ours+im+p300`` -> ("ours", {"im"}, {"p": 300})."""
    base, *tokens = name.split("+")
    if base not in ("ours", "tv"):
        raise SystemExit(f"unknown variant {name!r}: must start with ours or tv")
    flags, numbers = set(), {}
    for token in tokens:
        match = re.fullmatch(r"([pq])(\d+)", token)
        if match:
            numbers[match.group(1)] = int(match.group(2))
        elif token in ("bb", "im", "fold", "cl", "fast", "bf16"):
            flags.add(token)
        else:
            raise SystemExit(f"unknown token {token!r} in variant {name!r}")
    return base, flags, numbers


def build_ours(flags: set[str], numbers: dict[str, int]) -> nn.Module:
    from mammorcnn.model import build_model
    from mammorcnn.model.config import ModelConfig

    config = ModelConfig()
    if "p" in numbers:
        config.rpn.post_nms_top_n_test = numbers["p"]
    if "q" in numbers:
        config.rpn.pre_nms_top_n_test = numbers["q"]
    model = build_model(config).eval()
    if flags & {"fold", "cl", "fast", "bf16"}:
        from mammorcnn.model.speed import optimize_for_inference

        bf16 = "bf16" in flags
        if "fast" in flags:
            model = optimize_for_inference(model, bf16=bf16, copy=False)
        else:
            fold, cl = "fold" in flags, "cl" in flags
            model = optimize_for_inference(
                model, fold_bn=fold, channels_last=cl, bf16=bf16, copy=False
            )
    return model


def build_torchvision(size: int) -> nn.Module:
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    return maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=2, min_size=size, max_size=size
    ).eval()


def grad_mode(flags: set[str]) -> Callable[[], contextlib.AbstractContextManager]:
    return torch.inference_mode if flags & {"im", "fast"} else torch.no_grad


def make_variant(
    name: str,
    images: list[torch.Tensor],
    device: torch.device,
    amp: bool,
) -> Variant:
    """Build variant ``name`` for inference on ``images`` (1xSxS each, on ``device``)."""
    base, flags, numbers = parse(name)
    size = images[0].shape[-1]
    if base == "tv":
        model = build_torchvision(size).to(device)
        inputs = [im.expand(3, -1, -1).contiguous() for im in images]
    else:
        model = build_ours(flags, numbers).to(device)
        inputs = images
    mode = grad_mode(flags)
    if amp:
        autocast = lambda: torch.autocast(device.type, dtype=torch.float16)  # noqa: E731
    elif "bf16" in flags and base == "tv":
        autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    if "bb" in flags:
        if base != "ours":
            raise SystemExit("+bb is defined for ours only")

        def infer() -> object:
            with mode(), autocast():
                batch, _ = model.transform(inputs)
                tensor = batch.tensors
                if "cl" in flags or "fast" in flags:
                    tensor = tensor.contiguous(memory_format=torch.channels_last)
                return model.backbone(tensor)
    else:

        def infer() -> object:
            with mode(), autocast():
                return model(inputs)

    return Variant(name, model, infer)


def make_train_variant(
    name: str,
    images: list[torch.Tensor],
    targets: list[dict[str, torch.Tensor]],
    device: torch.device,
    amp: bool,
) -> Variant:
    """Variant ``name`` in training mode with SGD (momentum 0.9, wd 1e-4) and, on CUDA with
    ``amp``, float16 autocast + GradScaler: one call = forward, backward, step.

    The learning rate is small (1e-4) so that repeated steps from random weights stay finite:
    the arithmetic of a step does not depend on it, but NaN boxes would change what NMS keeps.
    """
    base, flags, numbers = parse(name)
    size = images[0].shape[-1]
    if base == "tv":
        model = build_torchvision(size)
        inputs = [im.expand(3, -1, -1).contiguous() for im in images]
    else:
        model = build_ours(set(), numbers)  # folding is for inference only
        if "cl" in flags:
            model = model.to(memory_format=torch.channels_last)
        inputs = images
    model = model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    # float16 with a scaler on CUDA; "+bf16" asks for CPU bfloat16 autocast (speed only: the
    # training engine refuses CPU autocast, see TrainConfig.amp)
    dtype = torch.float16 if amp else torch.bfloat16
    cast = amp or "bf16" in flags

    def step() -> object:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=cast):
            losses = model(inputs, targets)
        loss = sum(losses.values())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()

    return Variant(name, model, lambda: None, step)
