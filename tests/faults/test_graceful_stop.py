"""Graceful stop (issue 15): SIGTERM or SIGINT at a random step checkpoints that exact step and
exits 143/130; `--resume` then ends with the weights of an uninterrupted run. A second signal
stops at once. predict and evaluate stop between images."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stop_script
import torch

from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.folder_lock import LOCK_NAME
from mammorcnn.engine.training.runlog import read_log

SCRIPT = Path(__file__).with_name("stop_script.py")


def start(run_dir: Path, resume: bool = False, sleep: float = 0.0) -> subprocess.Popen:
    args = [sys.executable, str(SCRIPT), str(run_dir)] + (["--resume"] if resume else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOY_STEP_SLEEP": str(sleep)}
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run_dir: Path, step: int) -> None:
    deadline = time.monotonic() + 60
    while not any(e["step"] >= step for e in read_log(run_dir)):
        assert proc.poll() is None, f"exited early: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting for the step"
        time.sleep(0.01)


def steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:13]) for p in (run_dir / "checkpoints").glob("*.state.pt"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_at_a_random_step_then_resume_equals_uninterrupted(
    tmp_path: Path, signum: int, code: int
) -> None:
    run = tmp_path / "run"
    at = random.randint(1, 7)  # 9 steps; epoch-end checkpoints at 3 and 6
    proc = start(run, sleep=0.05)
    wait_for_step(proc, run, at)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    stopped = max(e["step"] for e in read_log(run))  # the step that was running finished
    assert stopped in (at, at + 1), (at, stopped)
    assert f"stopped by {signal.Signals(signum).name} after step {stopped} (epoch" in err
    assert f"continue with: mammorcnn train --resume {run}" in err
    assert steps(run)[-1] == stopped  # a checkpoint at exactly that step
    assert not (run / LOCK_NAME).exists() and not list(run.rglob(".*.tmp"))
    _, err = (proc := start(run, resume=True)).communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert f"resumed from step-{stopped:08d}.safetensors" in err
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocesses, so float sums run in the same order
    try:
        stop_script.main(tmp_path / "ref", resume=False)  # uninterrupted, in this process
    finally:
        torch.set_num_threads(threads)
    final = "checkpoints/step-00000009.safetensors"
    resumed, reference = load_weights(run / final)[0], load_weights(tmp_path / "ref" / final)[0]
    assert resumed.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(resumed[key], value), (at, key)
    assert [(e["step"], e["loss"]) for e in read_log(run)] == [
        (e["step"], e["loss"]) for e in read_log(tmp_path / "ref")
    ]


def test_second_signal_stops_at_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start(run, sleep=0.5)  # a step takes a second
    wait_for_step(proc, run, 1)
    proc.send_signal(signal.SIGTERM)
    while "SIGTERM received" not in (line := proc.stderr.readline()):
        assert line, "the process ended without acknowledging the first signal"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.monotonic() - sent < 0.5  # did not wait for the step to finish
    assert proc.returncode == -signal.SIGTERM  # killed by it: a shell reports 143
    assert steps(run) == []  # no stop checkpoint (the first epoch-end one comes at step 3)
    assert not list(run.rglob(".*.tmp"))


def test_predict_stops_between_images_keeping_whole_outputs(
    cli,  # noqa: ANN001
    tmp_path: Path,
    phantoms: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cli_conftest import make_checkpoint

    from mammorcnn.engine.inference.writer import ImageWriter

    weights = make_checkpoint(tmp_path / "w.safetensors")
    images = sorted(phantoms.parent.rglob("*.png"))[:3]
    real_write = ImageWriter.write

    def write_then_signal(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        real_write(self, *args, **kwargs)
        if len(self.images) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # as a cluster would, during image 1

    monkeypatch.setattr(ImageWriter, "write", write_then_signal)
    out = tmp_path / "out"
    result = cli("predict", "--weights", weights, *images, "--out", out, "--no-seg")
    assert result.code == 143, result.err
    assert f"stopped by SIGTERM with 1 of 3 image(s) written to {out}" in caplog.text
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{images[0].stem}_mask.png", f"{images[0].stem}_overlay.png"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_evaluate_stops_between_images(
    cli,  # noqa: ANN001
    tmp_path: Path,
    phantoms: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cli_conftest import make_checkpoint

    from mammorcnn.engine.inference.predictor import Predictor

    weights = make_checkpoint(tmp_path / "w.safetensors")
    real_run, calls = Predictor.run, []

    def run_then_signal(self, items):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during image 2
        return real_run(self, items)

    monkeypatch.setattr(Predictor, "run", run_then_signal)
    out = tmp_path / "eval"
    result = cli("evaluate", "--weights", weights, "--data", phantoms, "--out", out)
    assert result.code == 130, result.err
    assert "stopped by SIGINT after 2 of 4 image(s); nothing written yet" in caplog.text
    assert len(calls) == 2 and sorted(p.name for p in out.iterdir()) == []
