"""Shared test set-up: puts this folder on sys.path for `training_toys`; resets torch globals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

# --import-mode=importlib does not put test folders on sys.path; the helpers live beside us.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _restore_torch_globals():  # noqa: ANN202
    """Trainer runs switch on deterministic algorithms process-wide; undo it after each test."""
    yield
    torch.use_deterministic_algorithms(False)
