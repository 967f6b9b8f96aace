"""The checkpoint folder of a run: last K checkpoints plus the best one, found again on resume.

Layout (RUN_DIR/checkpoints)::

    step-00001200.safetensors   weights + metadata (written first)
    step-00001200.state.pt      optimiser, scheduler, scaler, epoch, step, RNG (written last)
    best.safetensors            weights of the best validation metric so far

A checkpoint counts only once its state file exists: the weights are written before it, so a
crash between the two leaves an incomplete pair that resume ignores (and pruning deletes).
Resume walks from the newest complete pair backwards and takes the first that loads, so even a
checkpoint damaged after the fact (disk full, bit rot) falls back to the previous one.
A write the machine refuses (disk full, read-only or vanished folder) is an OutputError naming
the file; the checkpoints already written are untouched by it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from mammorcnn.atomic import ensure_folder, output_error, remove_stale_temp_files
from mammorcnn.engine.checkpoint import (
    load_state,
    load_weights,
    save_state,
    save_weights,
)
from mammorcnn.engine.training.ema import averaged_weights
from mammorcnn.errors import CheckpointError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d{8,})\.state\.pt$")
BEST = "best.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """One saved point of a run."""

    step: int
    weights: Path
    state: Path


@dataclass
class Loaded:
    """A checkpoint read back: weights, their metadata and the training state."""

    checkpoint: Checkpoint
    weights: dict[str, torch.Tensor]
    metadata: dict
    state: dict


class CheckpointManager:
    """Writes, rotates and finds checkpoints in one folder (only rank 0 writes)."""

    def __init__(self, folder: Path, keep_last: int) -> None:
        self.folder = Path(folder)
        self.keep_last = keep_last

    def prepare(self) -> None:
        """Create the folder and clear temp files a killed writer left behind."""
        ensure_folder(self.folder)
        try:
            removed = remove_stale_temp_files(self.folder)
        except OSError as error:
            raise output_error(error, error.filename or self.folder) from error
        for tmp in removed:
            log.warning("removed %s left by an interrupted checkpoint write", tmp.name)

    def paths(self, step: int) -> Checkpoint:
        stem = self.folder / f"step-{step:08d}"
        return Checkpoint(step, stem.with_suffix(".safetensors"), Path(f"{stem}.state.pt"))

    @property
    def best_path(self) -> Path:
        return self.folder / BEST

    def complete(self) -> list[Checkpoint]:
        """Checkpoints whose state (written last) and weights both exist, oldest first."""
        found = []
        for state in self.folder.glob("step-*.state.pt"):
            match = _NAME.match(state.name)
            if match:
                ckpt = self.paths(int(match.group(1)))
                if ckpt.weights.is_file():
                    found.append(ckpt)
        return sorted(found, key=lambda c: c.step)

    def save(self, step: int, weights: dict, metadata: dict, state: dict) -> Checkpoint:
        """Write a checkpoint (weights, then state) and delete those beyond the last K."""
        ckpt = self.paths(step)
        save_weights(ckpt.weights, weights, {**metadata, "step": step})
        save_state(ckpt.state, state)
        try:
            self._prune(keep=ckpt)
        except OSError as error:  # e.g. the folder became read-only; the new pair is complete
            raise output_error(error, error.filename or self.folder) from error
        return ckpt

    def save_best(self, weights: dict, metadata: dict) -> Path:
        save_weights(self.best_path, weights, metadata)
        return self.best_path

    def _prune(self, keep: Checkpoint) -> None:
        complete = self.complete()
        old = [c for c in complete[: -self.keep_last] if c != keep]
        for ckpt in old:
            # State first: a crash in between leaves weights without state, i.e. incomplete.
            ckpt.state.unlink(missing_ok=True)
            ckpt.weights.unlink(missing_ok=True)
        done = {c.weights for c in complete}
        for weights in self.folder.glob("step-*.safetensors"):
            if weights not in done and weights != keep.weights:  # orphan of a crashed save
                weights.unlink(missing_ok=True)

    def load_latest(self) -> Loaded | None:
        """The newest checkpoint that loads completely, or None when there is none."""
        for ckpt in reversed(self.complete()):
            try:
                weights, metadata = load_weights(ckpt.weights)
                state = load_state(ckpt.state)
            except CheckpointError as error:
                log.warning("skipping unreadable checkpoint: %s", error)
                continue
            return Loaded(ckpt, weights, metadata, state)
        return None

    def repair_best(self, best_step: int | None, averaged: bool = False) -> None:
        """Rewrite best.safetensors from checkpoint `best_step` if a crash came in between.

        best.safetensors is written after the checkpoint that records the new best value; if
        the run died in between, the record and the file disagree and the file is rebuilt:
        from the step's weights, or with `averaged` (train.ema_decay) from the weight average
        in the step's state file.
        """
        if best_step is None:
            return
        try:
            current = (
                load_weights(self.best_path)[1].get("step") if self.best_path.exists() else None
            )
        except CheckpointError:
            current = None
        source = self.paths(best_step).weights
        if current != best_step and source.is_file():
            weights, metadata = load_weights(source)
            if averaged:
                weights = averaged_weights(load_state(self.paths(best_step).state))
            self.save_best(weights, metadata)
            log.warning("rebuilt %s from %s", self.best_path.name, source.name)

    def set_aside_newer(self, step: int) -> None:
        """Rename checkpoints newer than `step` (unreadable ones resume skipped) to *.unreadable.

        Kept for inspection rather than deleted, but out of the way so they are neither resumed
        from nor counted among the last K.
        """
        for ckpt in self.complete():
            if ckpt.step > step:
                for path in (ckpt.state, ckpt.weights):
                    if path.exists():
                        path.rename(path.with_name(path.name + ".unreadable"))
                log.warning("set aside unreadable checkpoint step-%08d", ckpt.step)
