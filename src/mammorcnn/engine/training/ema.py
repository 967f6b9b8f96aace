"""The moving average of the weights that `train.ema_decay` turns on.

torch's ``AveragedModel`` with ``get_ema_multi_avg_fn`` does the averaging (a copy of the
module, a multi-tensor lerp per step, buffers averaged too so BatchNorm statistics match the
averaged weights). Written here is only what a resumable run needs on top: the average's part
of the training state, and reading it back with an error that names the file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mammorcnn.errors import CheckpointError

# Keys of the average in the training state (docs/training.md, "Training state").
WEIGHTS_KEY = "ema_weights"
UPDATES_KEY = "ema_updates"


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The average of ``model``'s weights, or None when ``decay`` is 0 (off)."""
    if decay == 0:
        return None
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.eval()  # used for validation and saving only; it never trains
    return ema


def ema_state(ema: AveragedModel) -> dict:
    """The average's entries of the training state: its weights and how many steps it holds."""
    return {WEIGHTS_KEY: ema.module.state_dict(), UPDATES_KEY: int(ema.n_averaged)}


def restore_ema(ema: AveragedModel, state: dict, path: Path) -> None:
    """Load the average saved in a training state (``path`` names it in errors)."""
    if WEIGHTS_KEY not in state:
        raise CheckpointError(
            path,
            "saved without train.ema_decay (no weight average to continue); resume with "
            "train.ema_decay=0 or start a new run",
        )
    try:
        ema.module.load_state_dict(state[WEIGHTS_KEY])
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(path, f"weight average does not fit this model: {error}") from None
    ema.n_averaged.copy_(torch.tensor(int(state[UPDATES_KEY])))


def averaged_weights(state: dict) -> dict[str, torch.Tensor] | None:
    """The averaged weights in a training state, or None when it holds none."""
    return state.get(WEIGHTS_KEY)
