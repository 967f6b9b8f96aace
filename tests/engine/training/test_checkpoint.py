"""Checkpoint files: round trips, refusal of unsafe/foreign/truncated files, atomic writes."""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mammorcnn import atomic
from mammorcnn.engine.checkpoint import (
    check_compatible,
    check_same_settings,
    load_state,
    load_weights,
    save_state,
    save_weights,
)
from mammorcnn.engine.training.manager import CheckpointManager
from mammorcnn.engine.training.rng import capture_rng, restore_rng
from mammorcnn.errors import CheckpointError, OutputError

META = {
    "model_config": {"num_classes": 1},
    "preprocess": {"image_size": 64},
    "class_names": ["mass"],
}


def tiny(num_classes: int = 2, width: int = 4) -> nn.Module:
    model = nn.Module()
    model.backbone = nn.Conv2d(1, width, 3)
    model.cls_score = nn.Linear(width, num_classes)
    return model


def test_weights_round_trip(tmp_path: Path) -> None:
    model = tiny()
    save_weights(tmp_path / "w.safetensors", model.state_dict(), META)
    weights, metadata = load_weights(tmp_path / "w.safetensors")
    assert metadata == META
    for key, value in model.state_dict().items():
        assert torch.equal(weights[key], value)
    check_compatible(tmp_path / "w.safetensors", weights, tiny())
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_state_round_trip_with_rng(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    rng = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    opt = torch.optim.SGD(tiny().parameters(), lr=0.1, momentum=0.9)
    save_state(tmp_path / "s.state.pt", {"rng": [rng], "optimizer": opt.state_dict(), "step": 7})
    state = load_state(tmp_path / "s.state.pt")
    assert state["step"] == 7
    restore_rng(state["rng"][0])
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == expected


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", "truncated weights file"),
        (b"\x00" * 4, "truncated weights file"),
        # fixed bytes: fresh random ones start with 0x80 (pickle's marker) one time in 256,
        # and are then rightly refused as a pickle file instead
        (random.Random(0).randbytes(64), "truncated or corrupt"),
    ],
)
def test_garbage_weights_refused(tmp_path: Path, data: bytes, pattern: str) -> None:
    (tmp_path / "w.safetensors").write_bytes(data)
    with pytest.raises(CheckpointError, match=pattern):
        load_weights(tmp_path / "w.safetensors")


def test_truncated_files_refused(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.safetensors", tiny(width=64).state_dict(), META)
    save_state(tmp_path / "s.state.pt", {"x": torch.zeros(1000)})
    for name, loader in (("w.safetensors", load_weights), ("s.state.pt", load_state)):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match=name):
            loader(tmp_path / name)
    with pytest.raises(CheckpointError, match="no such"):
        load_weights(tmp_path / "missing.safetensors")


def test_foreign_safetensors_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match="not a mammorcnn weights file"):
        load_weights(tmp_path / "w.safetensors")


def test_other_architecture_and_class_count_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(path, tiny(num_classes=3).state_dict(), META)
    weights, _ = load_weights(path)
    with pytest.raises(CheckpointError, match=r"class count: cls_score.weight has shape \(3, 4\)"):
        check_compatible(path, weights, tiny(num_classes=2))
    with pytest.raises(CheckpointError, match=r"another architecture: .*backbone.weight"):
        check_compatible(path, weights, nn.Sequential(nn.Linear(2, 2)))


def test_other_preprocessing_refused(tmp_path: Path) -> None:
    check_same_settings(tmp_path, META, "preprocess", {"image_size": 64})
    with pytest.raises(CheckpointError, match="image_size: checkpoint 64 vs now 1024"):
        check_same_settings(tmp_path, META, "preprocess", {"image_size": 1024})


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def test_pickle_checkpoint_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = {"model": _Exploit(marker), "format_version": 1}
    # Sanity check that the payload is live: a plain unpickle runs it.
    pickle.loads(pickle.dumps(payload))
    assert marker.exists()
    marker.unlink()
    for name in ("evil.safetensors", "evil.state.pt", "evil.pt"):
        torch.save(payload, tmp_path / name)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_weights(tmp_path / "evil.safetensors")
    with pytest.raises(CheckpointError, match="unsafe, truncated or corrupt"):
        load_state(tmp_path / "evil.state.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(payload))  # protocol pickle, not zip
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_weights(tmp_path / "evil.pkl")
    with pytest.raises(CheckpointError):
        load_state(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_safetensors_starting_with_pickle_byte_loads(tmp_path: Path) -> None:
    """A header length whose low byte is 0x80 (1 file in 256) is not mistaken for a pickle."""
    model = tiny()
    path = tmp_path / "w.safetensors"
    for pad in range(300):
        save_weights(path, model.state_dict(), {**META, "pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    weights, metadata = load_weights(path)
    assert metadata["pad"] == "x" * pad and set(weights) == set(model.state_dict())


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(path, tiny().state_dict(), META)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OutputError, match="w.safetensors: cannot write .no space left"):
        save_weights(path, tiny(width=8).state_dict(), {"new": True})
    monkeypatch.undo()
    assert load_weights(path)[1] == META
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # temp file removed


_KILLED_WRITER = """
import sys, torch
from mammorcnn.engine.checkpoint import save_weights
save_weights(sys.argv[1], {"w": torch.ones(100_000)}, {"new": True})
"""


def test_killed_write_keeps_previous_checkpoint_loadable(tmp_path: Path) -> None:
    path = tmp_path / "step-00000001.safetensors"
    save_weights(path, tiny().state_dict(), META)
    env = {**os.environ, atomic.FAULT_PAUSE_ENV: "step-*.safetensors", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], env=env)
    marker = Path(f"{path}.paused-for-test")
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the writer never reached the middle of its write"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = list(tmp_path.glob(".*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # really was half-written
    assert load_weights(path)[1] == META  # the previous checkpoint is intact
    CheckpointManager(tmp_path, keep_last=1).prepare()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def _save(manager: CheckpointManager, step: int) -> None:
    manager.save(step, {"w": torch.full((2,), float(step))}, META, {"step": step})


def test_manager_keeps_last_k_and_resumes_newest_loadable(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=2)
    manager.prepare()
    assert manager.load_latest() is None
    for step in (1, 2, 3):
        _save(manager, step)
    assert [c.step for c in manager.complete()] == [2, 3]
    loaded = manager.load_latest()
    assert loaded.state["step"] == 3 and loaded.metadata["step"] == 3
    assert torch.equal(loaded.weights["w"], torch.full((2,), 3.0))
    # Weights of step 4 written but killed before its state: incomplete, ignored, then pruned.
    save_weights(manager.paths(4).weights, {"w": torch.zeros(2)}, META)
    assert manager.load_latest().checkpoint.step == 3
    # A damaged newest checkpoint falls back to the previous one and is set aside.
    data = manager.paths(3).state.read_bytes()
    manager.paths(3).state.write_bytes(data[:100])
    assert manager.load_latest().checkpoint.step == 2
    manager.set_aside_newer(2)
    _save(manager, 3)
    assert [c.step for c in manager.complete()] == [2, 3]
    assert not manager.paths(4).weights.exists()
    assert (tmp_path / "step-00000003.state.pt.unreadable").exists()


def test_repair_best_after_crash_between_state_and_best(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep_last=3)
    _save(manager, 1)
    manager.save_best({"w": torch.zeros(2)}, {**META, "step": 1})
    _save(manager, 2)  # recorded as best, but the run died before best.safetensors was written
    manager.repair_best(2)
    weights, metadata = load_weights(manager.best_path)
    assert metadata["step"] == 2 and torch.equal(weights["w"], torch.full((2,), 2.0))
