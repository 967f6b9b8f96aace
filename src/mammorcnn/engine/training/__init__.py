"""Training engine: optimiser/schedule, checkpoint rotation, resume, DDP, logging.

The settings (`TrainConfig`, in `mammorcnn.train_config`) and the checkpoint format
(`mammorcnn.engine.checkpoint`, shared with inference) live outside this package; their names
are re-exported here. Names are imported lazily so that importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "mammorcnn.train_config",
    "Trainer": "trainer",
    "TrainResult": "callbacks",
    "run_training": "run",
    "load_run_config": "run",
    "make_evaluator": "validation",
    "make_overlays": "validation",
    "load_weights": "mammorcnn.engine.checkpoint",
    "save_weights": "mammorcnn.engine.checkpoint",
    "load_state": "mammorcnn.engine.checkpoint",
    "save_state": "mammorcnn.engine.checkpoint",
    "check_compatible": "mammorcnn.engine.checkpoint",
    "CheckpointManager": "manager",
    "DistInfo": "distributed",
    "init_distributed": "distributed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        target = _EXPORTS[name]
        module = importlib.import_module(target if "." in target else f"{__name__}.{target}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
