"""DDP under torchrun with two gloo processes on the CPU: sync, reduction, one writer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.runlog import read_log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_train_in_sync_and_write_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    script = Path(__file__).with_name("ddp_script.py")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(script), str(run_dir),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}" / "result.json").read_text()) for r in (0, 1)]
    # 8 images, 2 ranks, batch 2: each rank takes 2 steps on its own shard.
    assert [r["world"] for r in results] == [2, 2] and [r["step"] for r in results] == [2, 2]
    # Rank metrics 0 and 1 are averaged on both ranks.
    assert [r["metrics"]["froc/sens@1"] for r in results] == [0.5, 0.5]
    p0, p1 = (torch.load(tmp_path / f"rank{r}" / "params.pt") for r in (0, 1))
    assert all(torch.equal(p0[k], p1[k]) for k in p0)  # ranks started from different weights
    # Only rank 0 wrote: one checkpoint, one best, one log with one line per step.
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["best.safetensors", "step-00000002.safetensors", "step-00000002.state.pt"]
    weights, _ = load_weights(run_dir / "checkpoints" / "step-00000002.safetensors")
    assert all(torch.equal(weights[k], p0[k]) for k in p0)
    # Both ranks kept the same weight average, and best.safetensors is it, not the weights.
    e0, e1 = (torch.load(tmp_path / f"rank{r}" / "ema.pt") for r in (0, 1))
    assert all(torch.equal(e0[k], e1[k]) for k in e0)
    best, _ = load_weights(run_dir / "checkpoints" / "best.safetensors")
    assert all(torch.equal(best[k], e0[k]) for k in e0)
    assert any(not torch.equal(best[k], p0[k]) for k in p0)
    assert [e["step"] for e in read_log(run_dir)] == [1, 2]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1


def test_two_gloo_processes_share_one_phantom_pretraining(tmp_path: Path) -> None:
    """Under torchrun only rank 0 makes the phantoms and writes; both ranks pretrain, then
    train, from the same weights (`mammorcnn train` as a user runs it)."""
    from mammorcnn.data import generate_phantom_dataset

    from .test_run import overrides

    data = generate_phantom_dataset(tmp_path / "data", 4, seed=1, image_size=64)
    run_dir = tmp_path / "run"
    items = [o for o in overrides(data, tmp_path) if not o.startswith("train.val_annotations")]
    items += ["train.phantom_pretrain.images=4", "train.phantom_pretrain.epochs=1"]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "mammorcnn.cli.main", "train", *items, "--out", str(run_dir),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    pretrain = run_dir / "pretrain"
    assert len(list((pretrain / "phantoms" / "images").iterdir())) == 4
    assert json.loads((pretrain / "pretrained.json").read_text())["weights"] == (
        "checkpoints/best.safetensors"
    )
    # 4 images, 2 ranks, batch 2: one step per epoch, in each stage; one log line per step
    assert [e["step"] for e in read_log(pretrain)] == [1]
    assert [e["step"] for e in read_log(run_dir)] == [1]
    assert done.stdout.count("best weights:") == 1  # rank 0 reports
