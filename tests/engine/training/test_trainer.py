"""Trainer behaviour: exact resume, NaN policy, OOM message, best/last-K checkpoints, logging."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import torch
from training_toys import TinyMammoSet, ToyDetector, ToySet, tiny_maskrcnn, toy_config

from mammorcnn.config import config_to_dict
from mammorcnn.engine.checkpoint import check_compatible, load_weights, save_weights
from mammorcnn.engine.training.callbacks import TrainResult
from mammorcnn.engine.training.runlog import read_log
from mammorcnn.engine.training.trainer import Trainer
from mammorcnn.errors import CheckpointError, ConfigError, TrainingError
from mammorcnn.model import tiny_config


def train(
    run_dir: Path, resume: bool = False, model: Callable[[], torch.nn.Module] = ToyDetector, **cfg
):
    torch.manual_seed(0)  # the same initial weights in every run
    model = model()
    trainer = Trainer(
        model, ToySet(6), toy_config(**cfg), run_dir, metadata={"class_names": ["mass"]}
    )
    return trainer.fit(resume=resume), trainer


def losses(run_dir: Path) -> list[tuple[int, float, float]]:
    return [(e["step"], e["loss"], e["lr"]) for e in read_log(run_dir)]


def test_resume_after_epoch_equals_uninterrupted(tmp_path: Path) -> None:
    full, _ = train(tmp_path / "a", epochs=3)
    train(tmp_path / "b", epochs=1)
    resumed, _ = train(tmp_path / "b", resume=True, epochs=3)
    assert len(losses(tmp_path / "a")) == 9  # 3 batches per epoch (6 images, batch 2)
    assert losses(tmp_path / "b") == losses(tmp_path / "a")
    a, b = load_weights(full.last)[0], load_weights(resumed.last)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.step == 9 and resumed.epoch == 3


class Crash(Exception):
    pass


class CrashAt(ToyDetector):
    """Raises at its n-th training forward: a crash in the middle of an epoch."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, images, targets=None):  # noqa: ANN001, ANN201
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise Crash
        return super().forward(images, targets)


def test_resume_mid_epoch_equals_uninterrupted(tmp_path: Path) -> None:
    train(tmp_path / "a", epochs=2, checkpoint_every_steps=2)
    with pytest.raises(Crash):
        train(tmp_path / "b", model=partial(CrashAt, 6), epochs=2, checkpoint_every_steps=2)
    # Checkpoints at steps 2 (mid-epoch 1), 3 (end of epoch 1), 4 (mid-epoch 2); crash at 6.
    train(tmp_path / "b", resume=True, epochs=2, checkpoint_every_steps=2)
    assert losses(tmp_path / "b") == losses(tmp_path / "a")
    assert len(losses(tmp_path / "a")) == 6


class NanAt(ToyDetector):
    """Returns a NaN (or, with grad=True, a finite loss with a NaN gradient) at step n."""

    def __init__(self, at: int, grad: bool = False) -> None:
        super().__init__()
        self.at, self.grad, self.calls = at, grad, 0

    def forward(self, images, targets=None):  # noqa: ANN001, ANN201
        out = super().forward(images, targets)
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                bad = (
                    (self.box.weight.sum() * 0).sqrt() if self.grad else torch.tensor(float("nan"))
                )
                out["loss_box_reg"] = out["loss_box_reg"] + bad
        return out


def test_nan_loss_stops_naming_step_and_keeps_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"non-finite loss at step 5 \(epoch 2, batch 2\)"):
        train(tmp_path, model=partial(NanAt, 5), epochs=2)
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    # no validation: best.safetensors is the last good epoch's weights (step 3)
    assert ckpts == ["best.safetensors", "step-00000003.safetensors", "step-00000003.state.pt"]
    assert load_weights(tmp_path / "checkpoints" / "best.safetensors")[1]["step"] == 3
    weights, meta = load_weights(tmp_path / "checkpoints" / ckpts[0])
    assert meta["step"] == 3 and all(torch.isfinite(w).all() for w in weights.values())


def test_nan_gradient_stops(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="non-finite gradient at step 2"):
        train(tmp_path, model=partial(NanAt, 2, grad=True), epochs=1)


def test_nan_skip_counts_and_continues(tmp_path: Path) -> None:
    result, trainer = train(tmp_path, model=partial(NanAt, 2), epochs=2, on_nan="skip")
    assert result.skipped_batches == 1 and result.step == 6
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert read_log(tmp_path)[-1]["skipped_batches"] == 1
    with pytest.raises(
        TrainingError, match=r"after skipping 0 batches \(train.max_skipped_batches"
    ):
        train(tmp_path / "b", model=partial(NanAt, 2), on_nan="skip", max_skipped_batches=0)


class Oom(ToyDetector):
    def forward(self, images, targets=None):  # noqa: ANN001, ANN201
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")


def test_oom_message_names_sizes_and_setting(tmp_path: Path) -> None:
    with pytest.raises(
        TrainingError, match=r"sizes \[\(16, 16\), \(16, 16\)\]: lower train.batch_size"
    ):
        train(tmp_path, model=Oom)


def test_refuses_to_overwrite_or_resume_nothing(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(tmp_path, resume=True)
    train(tmp_path, epochs=1)
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        train(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="class count"):
        train(tmp_path, resume=True, model=partial(ToyDetector, num_classes=3))


def test_best_and_last_k(tmp_path: Path) -> None:
    values = iter([0.5, 0.7, 0.6, float("nan")])
    seen = []

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        seen.append(model.training)
        return {"froc/sens@1": next(values), "map": 0.1}

    trainer = Trainer(
        ToyDetector(), ToySet(4), toy_config(epochs=4, keep_last=2), tmp_path, evaluate=evaluate
    )
    result = trainer.fit()
    assert seen == [False] * 4  # evaluated in eval mode
    assert result.best == tmp_path / "checkpoints" / "best.safetensors"
    meta = load_weights(result.best)[1]
    assert meta["step"] == 4 and meta["best"]["value"] == 0.7  # epoch 2 of 2 steps each
    assert [c.step for c in trainer.manager.complete()] == [6, 8]
    assert load_weights(result.last)[1]["metrics"]["froc/sens@1"] is None  # NaN -> null
    vals = read_log(tmp_path, "val")
    assert [v["froc/sens@1"] for v in vals] == [0.5, 0.7, 0.6, None]


def test_missing_best_metric_is_a_config_error_after_saving(tmp_path: Path) -> None:
    trainer = Trainer(
        ToyDetector(), ToySet(4), toy_config(epochs=1), tmp_path, evaluate=lambda m: {"other": 1.0}
    )
    with pytest.raises(ConfigError, match="train.best_metric='froc/sens@1' is not among .*other"):
        trainer.fit()
    assert trainer.manager.complete()


def test_tensorboard_scalars_and_overlays(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def overlays(model: torch.nn.Module, n: int) -> dict[str, torch.Tensor]:
        return {f"img{i}": torch.rand(3, 8, 8) for i in range(n)}

    cfg = toy_config(epochs=1, tensorboard=True, tb_overlays=2)
    Trainer(
        ToyDetector(),
        ToySet(4),
        cfg,
        tmp_path,
        evaluate=lambda m: {"froc/sens@1": 0.5},
        overlays=overlays,
    ).fit()
    acc = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert {"train/loss", "train/lr", "val/froc/sens@1"} <= set(acc.Tags()["scalars"])
    assert set(acc.Tags()["images"]) == {"overlays/img0", "overlays/img1"}


def test_fp16_on_cpu_is_disabled_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _, trainer = train(tmp_path, epochs=1, amp="fp16")
    assert trainer.runner.dtype is None
    assert "train.amp=fp16 needs a CUDA device" in caplog.text


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_cpu_follows_the_cpu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    """bf16 autocast on the CPU only where the CPU computes bfloat16 natively."""
    import mammorcnn.model.speed as speed

    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: native)
    seen: list[torch.dtype] = []

    class Probe(ToyDetector):  # records the dtype its conv computes in while training
        def _features(self, images):  # noqa: ANN001, ANN202
            if self.training:
                seen.append(self.conv(torch.stack(images)).dtype)
            return super()._features(images)

    with caplog.at_level(logging.WARNING):
        _, trainer = train(tmp_path, epochs=1, model=Probe, amp="bf16")
    if native:
        assert trainer.runner.dtype == torch.bfloat16 and seen and set(seen) == {torch.bfloat16}
        assert "bf16" not in caplog.text
    else:
        assert trainer.runner.dtype is None and set(seen) == {torch.float32}
        assert "no native bfloat16" in caplog.text


def test_weights_metadata_is_stored(tmp_path: Path) -> None:
    result, _ = train(tmp_path, epochs=1)
    meta = load_weights(result.last)[1]
    assert meta["class_names"] == ["mass"] and meta["epoch"] == 1 and meta["step"] == 3
    save_weights(tmp_path / "x.safetensors", {"a": torch.zeros(1)}, meta)  # stays JSON-safe


def test_real_tiny_maskrcnn_trains_and_resumes_exactly(tmp_path: Path) -> None:
    def run(run_dir: Path, epochs: int, resume: bool = False) -> TrainResult:
        torch.manual_seed(0)
        config = toy_config(epochs=epochs, lr=0.01, warmup_steps=1)
        meta = {"model_config": config_to_dict(tiny_config())}
        return Trainer(tiny_maskrcnn(), TinyMammoSet(4), config, run_dir, metadata=meta).fit(resume)

    full = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    run(tmp_path / "b", 2, resume=True)
    assert losses(tmp_path / "b") == losses(tmp_path / "a")
    entry = read_log(tmp_path / "a")[0]
    assert {
        "loss_objectness",
        "loss_rpn_box_reg",
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
    } <= set(entry)
    weights, meta = load_weights(full.last)
    check_compatible(full.last, weights, tiny_maskrcnn())
    assert meta["model_config"]["backbone"]["name"] == "resnet18"
