"""Tiny checkpoints and phantoms for the engine's inference and export tests.

The model is the tiny ResNet-18 variant with narrow heads on 128-px phantoms, so one forward
pass takes milliseconds. The "forced" checkpoint makes every proposal a class-1 detection of
score ~1 with a mask filling its box: known detections without training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The command-line tests' tiny model and checkpoint maker: one copy for both suites.
from ..cli.conftest import IMAGE_SIZE, TINY_MODEL, make_checkpoint  # noqa: F401


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 phantom images of 128 px with 1-2 masses each (COCO JSON path)."""
    from mammorcnn.data import generate_phantom_dataset

    folder = tmp_path_factory.mktemp("phantoms")
    return generate_phantom_dataset(folder, 4, seed=3, image_size=IMAGE_SIZE)


@pytest.fixture(scope="session")
def forced_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("weights") / "forced.safetensors", force=True)


@pytest.fixture(scope="session")
def two_class_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint of two classes (the phantoms have one)."""
    return make_checkpoint(tmp_path_factory.mktemp("weights") / "two.safetensors", num_classes=2)
