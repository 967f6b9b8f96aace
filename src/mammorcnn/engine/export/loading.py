"""A trained model from its weights file alone, for export.

Uses only what the weights file carries (``save_weights`` metadata: the model config and the
preprocessing settings), so an exported graph matches the trained model exactly. Pretrained
initialisation named in the config is dropped: the weights file already holds every tensor.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from mammorcnn.config import config_from_dict
from mammorcnn.engine.training.weights import check_compatible, load_weights
from mammorcnn.errors import CheckpointError, ConfigError
from mammorcnn.model import ModelConfig, build_model


def checkpoint_model_config(path: Path, metadata: dict) -> ModelConfig:
    """The model config stored in a weights file, made buildable offline."""
    data = metadata.get("model_config")
    if not isinstance(data, dict):
        raise CheckpointError(path, "checkpoint lacks the model config it was trained with")
    try:
        config = config_from_dict({"model": data}, source=path).model
    except ConfigError as error:
        raise CheckpointError(path, f"invalid model config in the checkpoint ({error})") from None
    # The norm layers and frozen stages were chosen from the presence of pretrained weights;
    # fix that choice before dropping them (frozen BN has no num_batches_tracked buffer).
    backbone = config.backbone
    if backbone.norm is None:
        backbone.norm = "frozen_bn" if config.uses_pretrained else "bn"
    if backbone.trainable_layers is None:
        backbone.trainable_layers = 3 if config.uses_pretrained else 5
    backbone.weights = None
    config.init_checkpoint = None
    return config


def checkpoint_image_size(metadata: dict, default: int = 1024) -> int:
    """The side S the model was trained at (``preprocess.image_size``)."""
    size = (metadata.get("preprocess") or {}).get("image_size", default)
    return int(size) if isinstance(size, int) and not isinstance(size, bool) else default


def load_model_for_export(weights: Path) -> tuple[nn.Module, int]:
    """(model in eval mode on the CPU, trained image size) from a weights file."""
    state_dict, metadata = load_weights(Path(weights))
    config = checkpoint_model_config(Path(weights), metadata)
    model = build_model(config)
    check_compatible(Path(weights), state_dict, model)
    model.load_state_dict(state_dict)
    return model.eval(), checkpoint_image_size(metadata)
