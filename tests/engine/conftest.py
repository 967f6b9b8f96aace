"""Tiny checkpoints and phantoms for the engine's inference and export tests.

The model is the tiny ResNet-18 variant with narrow heads on 128-px phantoms, so one forward
pass takes milliseconds. The "forced" checkpoint makes every proposal a class-1 detection of
score ~1 with a mask filling its box: known detections without training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

IMAGE_SIZE = 128
TINY_MODEL = {
    "backbone": {"name": "resnet18", "fpn_channels": 16},
    "box_head": {"fc_dim": 32},
    "mask_head": {"conv_channels": 16},
    "rpn": {"post_nms_top_n_train": 50, "post_nms_top_n_test": 50},
}


def make_checkpoint(
    path: Path, num_classes: int = 1, force: bool = False, image_size: int = IMAGE_SIZE
) -> Path:
    """An untrained tiny checkpoint with valid metadata (``force``: see the module docstring)."""
    from mammorcnn.config import config_from_dict
    from mammorcnn.engine.checkpoint import save_weights
    from mammorcnn.engine.training.run import weights_metadata
    from mammorcnn.model import build_model

    torch.manual_seed(0)
    data = {"model": {**TINY_MODEL, "num_classes": num_classes}}
    config = config_from_dict({**data, "data": {"preprocess": {"image_size": image_size}}})
    model = build_model(config.model)
    if force:
        with torch.no_grad():
            predictor = model.roi_heads.box_predictor
            predictor.cls_score.weight.zero_()
            predictor.cls_score.bias.copy_(torch.tensor([-10.0] + [10.0] * num_classes))
            predictor.bbox_pred.weight.zero_()
            predictor.bbox_pred.bias.zero_()
            logits = model.roi_heads.mask_predictor.mask_fcn_logits
            logits.weight.zero_()
            logits.bias.fill_(10.0)
    names = [f"class{i + 1}" for i in range(num_classes)] if num_classes > 1 else ["mass"]
    metadata = weights_metadata(config, names, list(range(1, num_classes + 1)))
    save_weights(path, model.state_dict(), metadata)
    return path


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
