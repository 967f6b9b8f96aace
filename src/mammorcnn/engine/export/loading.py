"""A trained model from its weights file (or run folder) alone, for export.

Uses ``mammorcnn.engine.inference.load_trained_model``, the loader `predict` uses: the model
config and the preprocessing settings come from the weights file's metadata, so an exported
graph is exactly the model `predict` would run, at the image size it was trained with.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

log = logging.getLogger("mammorcnn.export")


def load_model_for_export(weights: Path) -> tuple[nn.Module, int]:
    """(model in eval mode on the CPU, the image side S it was trained at)."""
    from mammorcnn.engine.inference import load_trained_model

    loaded = load_trained_model(Path(weights), "cpu", bf16_hint=False)  # export has no --bf16
    if loaded.model_config.box_head.test_time_flip:
        log.warning(
            "%s merges an up-down mirrored view at test time (model.box_head.test_time_flip); "
            "the exported graph is the plain model: run it on the image and its mirror and "
            "merge them to get mammorcnn's detections (docs/evaluation.md, 'Test-time flips')",
            weights,
        )
    if loaded.model_config.box_head.test_time_scales != (1.0,):
        log.warning(
            "%s merges views at the scales %s at test time (model.box_head.test_time_scales); "
            "the exported graph is the plain model at scale 1 (docs/evaluation.md, "
            "'Test-time scales')",
            weights,
            list(loaded.model_config.box_head.test_time_scales),
        )
    if loaded.model_config.box_head.rank_decay != 1:
        log.warning(
            "%s lowers each image's further detections at test time (model.box_head.rank_decay "
            "%g); the exported graph returns the plain scores (docs/evaluation.md, 'Rank decay')",
            weights,
            loaded.model_config.box_head.rank_decay,
        )
    if loaded.model_config.box_head.pectoral_weight != 0:
        log.warning(
            "%s lowers detections in the pectoral muscle of MLO views at test time "
            "(model.box_head.pectoral_weight %g); the exported graph returns the plain scores "
            "(docs/evaluation.md, 'Pectoral muscle')",
            weights,
            loaded.model_config.box_head.pectoral_weight,
        )
    if "score_calibration" in loaded.metadata:
        log.warning(
            "%s reports calibrated scores (1 / (1 + false marks per training image)); the "
            "exported graph returns the raw scores; the knots are in the weights file's "
            "metadata (docs/evaluation.md, 'Score calibration')",
            weights,
        )
    return loaded.model, loaded.preprocess.image_size
