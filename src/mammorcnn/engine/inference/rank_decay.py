"""Rank decay: each further mark of an image counts for less than the one above it.

A mammogram rarely holds more than one mass, yet a detector trained on a few hundred films
marks dense tissue several times in the same image, and in a pooled FROC every one of those
marks competes with the masses of all the other images for the same threshold. Multiplying
the score of an image's k-th detection of a class (best first, k counted from 0) by
``decay ** k`` keeps each image's best mark as it was and lowers the ones behind it, so a
film full of look-alikes spends less of the false-positive budget. It is a soft form of a cap
on marks per image (commercial CAD shows a few marks per image at most): a strong second
finding still stands. On mini-MIAS it was measured on the kept detections of eight
cross-validations (docs/results.md, "Rank decay").

The order of an image's detections is unchanged (the factors fall as the scores do), so only
how images compare with each other moves. Ties keep the model's order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mammorcnn.errors import ConfigError


def check_decay(value: float, option: str) -> float:
    """``value`` if it is a usable decay (within (0, 1]; 1 is off), else a ConfigError naming
    ``option``."""
    if not 0 < value <= 1:
        raise ConfigError(f"{option} must be within (0, 1] (1 turns it off), got {value}")
    return value


def decay_by_rank(scores: Tensor, labels: Tensor, decay: float) -> Tensor:
    """``scores`` with the k-th best of each label (k from 0; ties: the earlier first)
    multiplied by ``decay ** k``; the input order of the detections is kept."""
    if decay == 1 or scores.numel() == 0:
        return scores
    order = torch.argsort(scores, descending=True, stable=True)
    rank = torch.empty_like(order)
    for label in labels.unique():
        of_label = order[labels[order] == label]  # best first
        rank[of_label] = torch.arange(of_label.numel(), device=scores.device)
    factor = torch.full_like(scores, decay) ** rank.to(scores.dtype)
    return scores * factor
