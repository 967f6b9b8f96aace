"""Training engine: config, optimiser/schedule, checkpoints, resume, DDP, logging.

Names are imported lazily so that `mammorcnn.config` (which needs only `TrainConfig`) does not
pull in torch for a `--help` or a config check.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "Trainer": "trainer",
    "TrainResult": "callbacks",
    "run_training": "run",
    "load_run_config": "run",
    "make_evaluator": "validation",
    "make_overlays": "validation",
    "load_weights": "weights",
    "save_weights": "weights",
    "load_state": "weights",
    "save_state": "weights",
    "check_compatible": "weights",
    "CheckpointManager": "manager",
    "DistInfo": "distributed",
    "init_distributed": "distributed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
