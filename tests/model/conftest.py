"""Shared fixtures for the model tests: fixed seeds, small thread count."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def one_mass_sample() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A 64x64 image with one 20x20 mass: the smallest input a model can train on."""
    image, masks = torch.rand(1, 64, 64), torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:30, 20:40] = 1
    target = {"boxes": torch.tensor([[20.0, 10, 40, 30]]), "labels": torch.tensor([1])}
    return image, {**target, "masks": masks}
