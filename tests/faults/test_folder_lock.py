"""One writer per folder (issue 15): a second run into a locked folder is refused with one line
naming the folder and the holder's process id; a killed holder never blocks the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mammorcnn.engine.folder_lock import LOCK_NAME, folder_lock
from mammorcnn.errors import FolderBusyError

HOLDER = """
import sys, time
from pathlib import Path
from mammorcnn.engine.folder_lock import folder_lock
folder, command, shared, go = sys.argv[1], sys.argv[2], sys.argv[3] == "shared", sys.argv[4]
while go != "-" and not Path(go).exists():
    time.sleep(0.005)
try:
    with folder_lock(folder, command, shared=shared):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes stdin (or kills us)
except Exception as error:
    print(f"refused: {error}", flush=True)
"""


def hold(folder: Path, command: str = "train", shared: bool = False, go: str = "-"):  # noqa: ANN201
    """A process holding `folder`'s lock; returns it once it holds (or was refused)."""
    args = [sys.executable, "-c", HOLDER, str(folder), command, "shared" if shared else "x", go]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if go == "-":
        assert proc.stdout.readline().strip() == "held"
    return proc


def release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=10)


def test_second_writer_is_refused_naming_folder_and_holder(tmp_path: Path) -> None:
    holder = hold(tmp_path / "run", "train")
    try:
        with pytest.raises(FolderBusyError) as caught, folder_lock(tmp_path / "run", "train"):
            pass
        assert str(caught.value) == (
            f"{tmp_path / 'run'}: in use by process {holder.pid} (mammorcnn train); wait for "
            "it to finish or choose another folder"
        )
    finally:
        release(holder)
    with folder_lock(tmp_path / "run", "predict") as path:  # free again
        assert path.read_text() == f"{os.getpid()} mammorcnn predict\n"
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # removed by the last holder


def test_killed_holder_never_blocks_the_next_run(tmp_path: Path) -> None:
    holder = hold(tmp_path, "train")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # left behind by the kill, but not locked
    with folder_lock(tmp_path, "train") as path:
        assert path.read_text().split()[0] == str(os.getpid())


def test_shared_holders_coexist_and_keep_out_an_exclusive_one(tmp_path: Path) -> None:
    first = hold(tmp_path, "crossval --fold 0", shared=True)
    try:
        with folder_lock(tmp_path, "crossval --fold 1", shared=True):
            with pytest.raises(FolderBusyError, match="in use by process"):
                with folder_lock(tmp_path, "crossval"):
                    pass
    finally:
        release(first)
    with folder_lock(tmp_path, "crossval"):  # everyone gone
        pass


def test_two_processes_racing_for_one_folder_one_wins(tmp_path: Path) -> None:
    go = tmp_path / "go"
    racers = [hold(tmp_path / "out", "predict", go=str(go)) for _ in range(2)]
    time.sleep(0.3)  # both interpreters up and polling
    go.touch()
    raw = [proc.stdout.readline().strip() for proc in racers]
    lines = sorted(raw)
    for proc in racers:
        release(proc)
    winner = next(proc.pid for proc, line in zip(racers, raw) if line == "held")
    assert lines == [
        "held",
        f"refused: {tmp_path / 'out'}: in use by process {winner} (mammorcnn predict); wait "
        "for it to finish or choose another folder",
    ]


def test_disabled_or_no_folder_locks_nothing(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "rank1", "train", enabled=False) as path:
        assert path is None
    with folder_lock(None, "evaluate") as path:
        assert path is None
    assert not (tmp_path / "rank1").exists()


def test_cli_commands_refuse_a_locked_folder(
    cli,
    tmp_path: Path,
    tiny_yaml: Path,
    phantoms: Path,  # noqa: ANN001
) -> None:
    from cli_conftest import make_checkpoint

    weights = make_checkpoint(tmp_path / "w.safetensors")
    image = next(phantoms.parent.rglob("*.png"))
    out = tmp_path / "out"
    holder = hold(out, "predict")
    try:
        commands = {
            "train": ["train", tiny_yaml, "--out", out],
            "predict": ["predict", "--weights", weights, image, "--out", out],
            "evaluate": ["evaluate", "--weights", weights, "--data", phantoms, "--out", out],
            "crossval": ["crossval", tiny_yaml, "--data", phantoms, "--folds", "2", "--out", out,
                         "--fold", "0"],
        }  # fmt: skip
        for name, argv in commands.items():
            result = cli(*argv)
            assert result.code == 2, (name, result.err)
            assert result.err == (
                f"mammorcnn {name}: error: {out}: in use by process {holder.pid} (mammorcnn "
                "predict); wait for it to finish or choose another folder\n"
            )
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing else written
    finally:
        release(holder)
