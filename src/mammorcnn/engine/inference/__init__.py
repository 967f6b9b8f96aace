"""Inference: a trained model from its weights file, run on files or a dataset, with its
detections mapped back to the original image's pixels (what `predict` and `evaluate` use)."""

from mammorcnn.engine.device import resolve_device
from mammorcnn.engine.inference.inputs import find_inputs, output_stem
from mammorcnn.engine.inference.loading import (
    LoadedModel,
    check_preprocess_overrides,
    load_trained_model,
)
from mammorcnn.engine.inference.predictor import Predictor, PreparedImage, to_original

__all__ = [
    "LoadedModel",
    "PreparedImage",
    "Predictor",
    "check_preprocess_overrides",
    "find_inputs",
    "load_trained_model",
    "output_stem",
    "resolve_device",
    "to_original",
]
