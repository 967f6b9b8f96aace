"""The training-state file's content: what besides the weights a resume needs to be exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mammorcnn.errors import CheckpointError

# Where the run stands; (epoch, batch_in_epoch) is the next batch to train.
POSITION_KEYS = ("epoch", "batch_in_epoch", "step", "best", "skipped_batches")


def pack_state(
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    position: dict[str, Any],
    rng: list[dict],
    extra: dict | None = None,
) -> dict:
    """Everything but the weights (which go to safetensors); `rng` holds one entry per rank;
    `extra`: further entries (the weight average of train.ema_decay)."""
    return {
        **{key: position[key] for key in POSITION_KEYS},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng,
        "world_size": len(rng),
        **(extra or {}),
    }


def unpack_state(
    path: Path,
    state: dict,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> tuple[dict[str, Any], list[dict]]:
    """Load optimiser, scheduler and scaler; return (position, per-rank RNG states).

    A state of another optimiser or parameter layout is a CheckpointError, not a traceback.
    """
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        return {key: state[key] for key in POSITION_KEYS}, list(state["rng"])
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise CheckpointError(path, f"training state does not fit this run: {error}") from None
