"""What a run reports: console log, RUN_DIR/train_log.jsonl and TensorBoard (rank 0 only).

train_log.jsonl is the machine-readable record (one JSON object per logged step or
validation). After a resume, entries past the resumed step belong to the lost timeline and are
dropped, as TensorBoard's `purge_step` does for the event files, so neither shows a step twice.

Neither goes through the atomic writer (one appends, TensorBoard writes from its own thread and
reports a failed write at the next call), so a full, read-only or vanished folder is turned
into an OutputError naming the file here.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from mammorcnn.atomic import atomic_write_bytes, output_error

log = logging.getLogger("mammorcnn.train")

LOG_NAME = "train_log.jsonl"


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


class RunLog:
    """Writes scalars and images; every method is a no-op on non-main ranks."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None):
        self.enabled = enabled
        self.path = Path(run_dir) / LOG_NAME
        self.tb_dir = Path(run_dir) / "tensorboard"
        self.writer = None
        if not enabled:
            return
        if resume_step is not None:
            self._truncate(resume_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            try:
                self.writer = SummaryWriter(str(self.tb_dir), purge_step=purge)
            except OSError as error:
                raise output_error(error, self.tb_dir) from error

    def _truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if entry.get("step", 0) <= step:
                kept.append(line + "\n")
        atomic_write_bytes(self.path, "".join(kept).encode("utf-8"))

    def record(self, kind: str, step: int, epoch: int, values: dict[str, float]) -> None:
        """Append one entry (kind "train" or "val") and mirror it to TensorBoard."""
        if not self.enabled:
            return
        entry: dict[str, Any] = {"kind": kind, "step": step, "epoch": epoch}
        entry.update({k: _json_safe(float(v)) for k, v in values.items()})
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        except OSError as error:
            raise output_error(error, self.path) from error
        if self.writer is not None:
            try:
                for key, value in values.items():
                    self.writer.add_scalar(f"{kind}/{key}", float(value), step)
            except OSError as error:
                raise output_error(error, self.tb_dir) from error

    def images(self, step: int, images: dict[str, torch.Tensor]) -> None:
        """Overlay images (3xHxW, float in [0, 1] or uint8) under TensorBoard's "overlays/"."""
        if self.writer is None:
            return
        try:
            for name, image in images.items():
                self.writer.add_image(f"overlays/{name}", image, step, dataformats="CHW")
        except OSError as error:
            raise output_error(error, self.tb_dir) from error

    def close(self, quiet: bool = False) -> None:
        """Flush TensorBoard; `quiet` when another error is on its way (it is the one to show)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()
        except OSError as error:
            if not quiet:
                raise output_error(error, self.tb_dir) from error
            log.warning("TensorBoard events not flushed: %s", output_error(error, self.tb_dir))


def read_log(run_dir: Path, kind: str = "train") -> list[dict]:
    """Entries of one kind from train_log.jsonl (for reports and tests)."""
    path = Path(run_dir) / LOG_NAME
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("kind") == kind:
            entries.append(entry)
    return entries
