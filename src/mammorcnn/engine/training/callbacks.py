"""What the trainer exchanges with its caller: the injected callbacks and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# evaluate(model) -> {metric: value}: called on every rank, in eval mode, under no_grad.
EvaluateFn = Callable[[nn.Module], dict[str, float]]
# overlays(model, n) -> {name: 3xHxW image (uint8, or float in [0, 1])}: rank 0 only.
OverlayFn = Callable[[nn.Module, int], dict[str, torch.Tensor]]


@dataclass
class TrainResult:
    """Where a finished run left its weights."""

    best: Path  # best.safetensors, or the last checkpoint's weights if nothing was validated
    last: Path  # weights of the last checkpoint
    step: int
    epoch: int
    metrics: dict[str, float]  # of the last validation ({} if none)
    skipped_batches: int
