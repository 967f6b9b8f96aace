"""Pretrained initialisation (placeholder until the loaders land)."""

from __future__ import annotations

from torch import nn


def apply_pretrained(model: nn.Module) -> None:
    """Load the weights the model's config names (none yet)."""
    cfg = model.config
    if cfg.backbone.weights is not None or cfg.init_checkpoint is not None:
        raise NotImplementedError("pretrained loading is not implemented yet")
