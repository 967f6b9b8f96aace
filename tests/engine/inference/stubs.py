"""Stand-ins for a loaded checkpoint and a prepared image, for tests of the Predictor's
merging that need a hand-written model rather than a trained one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mammorcnn.data.preprocess import PreprocessConfig, PreprocessRecord
from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.engine.inference.predictor import PreparedImage
from mammorcnn.model import ModelConfig


def stub_loaded(
    model: torch.nn.Module, name: str = "stub.safetensors", size: int = 64, classes=("mass",)
) -> LoadedModel:
    """``model`` as if loaded from the checkpoint ``name`` (tiny config, ``size`` px)."""
    return LoadedModel(
        model,
        ModelConfig.tiny(),
        PreprocessConfig(image_size=size),
        list(classes),
        list(range(1, len(classes) + 1)),
        Path(name),
        torch.device("cpu"),
        {},
    )


def identity_item(image: np.ndarray) -> PreparedImage:
    """``image`` (SxS) as a prepared input whose original is itself (no crop, no resize)."""
    size = image.shape[-1]
    record = PreprocessRecord(
        original_shape=(size, size),
        crop_box=(0, 0, size, size),
        flipped=False,
        orientation_source="none",
        laterality=None,
        resized_shape=(size, size),
        pad=(0, 0),
        image_size=size,
        intensity_range=(0.0, 1.0),
    )
    return PreparedImage(image, record)
