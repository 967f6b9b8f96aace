"""Kill test (issue 6): SIGKILL a training run repeatedly, also in the middle of checkpoint
writes; every `--resume` continues from the last complete checkpoint, and the losses of the
stitched run equal those of an uninterrupted one (deterministic mode, CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kill_script
import torch

from mammorcnn.atomic import FAULT_PAUSE_ENV
from mammorcnn.engine.training.runlog import read_log

SCRIPT = Path(__file__).with_name("kill_script.py")


def start(run_dir: Path, resume: bool, **env: str) -> subprocess.Popen:
    args = [sys.executable, str(SCRIPT), str(run_dir)] + (["--resume"] if resume else [])
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.Popen(args, env=full_env, stderr=subprocess.PIPE, text=True)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 60) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"exited early: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting to kill"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.stderr.read()


def finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return err


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in read_log(run_dir)]


def test_sigkill_anywhere_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    # Checkpoints at steps 2, 3 (epoch end), 4, 6 (epoch end), 8, 9; 3 batches per epoch.
    # 1) Killed while the training state of step 4 is half written (its weights are complete).
    proc = start(run, resume=False, **{FAULT_PAUSE_ENV: "step-00000004.state.pt"})
    kill_when(proc, lambda: (ckpts / "step-00000004.state.pt.paused-for-test").exists())
    assert list(ckpts.glob(".step-00000004.state.pt.*.tmp"))  # really killed mid-write
    # 2) Resumes from step 3; killed while the weights of step 6 are half written.
    proc = start(run, resume=True, **{FAULT_PAUSE_ENV: "step-00000006.safetensors"})
    err = kill_when(proc, lambda: (ckpts / "step-00000006.safetensors.paused-for-test").exists())
    assert "resumed from step-00000003.safetensors" in err
    # 3) Resumes mid-epoch from step 4; killed during training, outside any write.
    proc = start(run, resume=True, TOY_STEP_SLEEP="0.1")
    err = kill_when(proc, lambda: any(s >= 7 for s, _ in losses(run)))
    assert "resumed from step-00000004.safetensors" in err
    # 4) Resumes from step 6 and finishes.
    err = finish(start(run, resume=True))
    assert "resumed from step-00000006.safetensors" in err
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocesses, so float sums run in the same order
    try:
        kill_script.main(tmp_path / "ref", resume=False)  # uninterrupted, in this process
    finally:
        torch.set_num_threads(threads)
    assert [s for s, _ in losses(run)] == list(range(1, 10))
    assert losses(run) == losses(tmp_path / "ref")
    names = sorted(p.name for p in ckpts.iterdir())
    # the toy run validates nothing, so best.safetensors is its newest epoch's weights
    assert names == ["best.safetensors"] + [
        f"step-{s:08d}.{ext}" for s in (6, 8, 9) for ext in ("safetensors", "state.pt")
    ]
