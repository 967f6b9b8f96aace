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


class BrightSpotModel(torch.nn.Module):
    """Detects the brightest pixel with a box of a sixteenth of the image's side on each
    side of it (score 0.9; side 8 on a 64-px image; a finding that follows the image under a
    mirror or a rescale) and always the fixed top-left box (0, 0, 8, 8) (score 0.6; a
    pattern of the pixel grid, which a mirrored or rescaled view maps elsewhere): the first
    is a finding all views agree on, the second one only one view sees."""

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        outputs = []
        for image in images:
            height, width = image.shape[-2:]
            y, x = divmod(int(torch.argmax(image[0])), width)
            cx, cy = x + 0.5, y + 0.5  # pixel (x, y) covers [x, x + 1] in box coordinates
            half = width / 16
            boxes = torch.tensor([[cx - half, cy - half, cx + half, cy + half], [0, 0, 8, 8]])
            masks = torch.zeros(2, 1, height, width)
            masks[0, 0, y, x] = 1.0
            outputs.append(
                {
                    "boxes": boxes,
                    "scores": torch.tensor([0.9, 0.6]),
                    "labels": torch.tensor([1, 1]),
                    "masks": masks,
                }
            )
        return outputs
