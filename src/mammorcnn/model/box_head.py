"""Detection head: one shared FC layer, softmax over C+1 classes, 4C box deltas.

Specification: docs/architecture.md §5.1.

Hand-written: torchvision's ``TwoMLPHead`` has two FC layers and its ``FastRCNNPredictor``
predicts 4(C+1) deltas (including background); the specification has one FC layer of 4096
units on the flattened 7x7x256 RoI features and 4C deltas (one box per object class).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BoxHead(nn.Module):
    """Flatten (N, C, 7, 7) RoI features -> FC ``fc_dim`` -> ReLU (named ``fc6`` as torchvision)."""

    def __init__(self, in_channels: int, roi_size: int, fc_dim: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_channels * roi_size * roi_size, fc_dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.fc6(x.flatten(start_dim=1)))


class BoxPredictor(nn.Module):
    """Class logits (N, C+1) and per-class box deltas (N, 4C); class 0 is background."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(in_features, num_classes + 1)
        self.bbox_pred = nn.Linear(in_features, 4 * num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


def with_background_deltas(box_regression: Tensor) -> Tensor:
    """(N, 4C) -> (N, 4(C+1)) with zero deltas for background, the layout torchvision decodes."""
    return torch.cat([box_regression.new_zeros((box_regression.shape[0], 4)), box_regression], 1)


def box_head_loss(
    class_logits: Tensor,
    box_regression: Tensor,
    labels: list[Tensor],
    regression_targets: list[Tensor],
    beta: float,
) -> tuple[Tensor, Tensor]:
    """Cross-entropy over C+1 classes + smooth L1 on the ground-truth class's 4 deltas.

    Both are averaged over the sampled RoIs (the box term sums over positives and divides by
    all sampled RoIs, as torchvision's ``fastrcnn_loss``).
    """
    labels_all = torch.cat(labels, dim=0)
    targets = torch.cat(regression_targets, dim=0)
    loss_cls = F.cross_entropy(class_logits, labels_all)
    pos = torch.where(labels_all > 0)[0]
    deltas = box_regression.reshape(box_regression.shape[0], -1, 4)
    loss_box = F.smooth_l1_loss(
        deltas[pos, labels_all[pos] - 1], targets[pos], beta=beta, reduction="sum"
    ) / max(labels_all.numel(), 1)
    return loss_cls, loss_box
