"""Restoration pretraining (train.restore_pretrain): the stage's config, and a run whose
detector starts from the backbone the stage trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mammorcnn.config import load_config
from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.phantom_pretrain import DONE_MARK, check_pretraining
from mammorcnn.engine.training.restore_pretrain import restoration_config
from mammorcnn.engine.training.run import load_run_config, run_training
from mammorcnn.errors import ConfigError, TrainingError

from .test_run import overrides

RECIPE = Path(__file__).parents[3] / "src/mammorcnn/configs/mini-mias.yaml"


def test_the_stage_restores_the_training_images_with_the_runs_model_and_optimiser() -> None:
    config = load_config(
        RECIPE,
        ["train.restore_pretrain.epochs=12", "train.train_annotations=t.json",
         "train.val_annotations=v.json"],
    )  # fmt: skip
    pre = restoration_config(config)
    assert pre.train.train_annotations == "t.json" and pre.train.val_annotations is None
    assert (pre.train.epochs, pre.train.lesion_repeat, pre.train.select) == (12, 1, "last")
    assert pre.data.augment.paste_prob == 0 and pre.data.augment.synthetic_mass_prob == 0
    assert pre.train.restore_pretrain.epochs == 0  # no pretraining of the pretraining
    assert pre.model == config.model and pre.data.preprocess == config.data.preprocess
    assert (pre.train.lr, pre.train.optimizer) == (config.train.lr, config.train.optimizer)
    other = load_config(None, ["train.restore_pretrain.epochs=1", "train.train_annotations=t.json",
                               "train.restore_pretrain.images=unlabelled.json"])  # fmt: skip
    assert restoration_config(other).train.train_annotations == "unlabelled.json"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["train.phantom_pretrain.images=4"], "one pretraining"),
        (["model.init_checkpoint=x.pth"], "restore_pretrain.epochs > 0 and model.init_checkpoint"),
        (["model.backbone.weights=imagenet"], "and model.backbone.weights"),
    ],
)
def test_other_starting_weights_are_refused(extra: list[str], message: str) -> None:
    config = load_config(
        None, ["train.restore_pretrain.epochs=2", "train.train_annotations=t.json", *extra]
    )
    with pytest.raises(ConfigError, match=message):
        check_pretraining(config)


def test_a_stage_without_images_is_refused_and_bad_settings_fail_at_load() -> None:
    with pytest.raises(ConfigError, match="needs images to restore"):
        check_pretraining(load_config(None, ["train.restore_pretrain.epochs=2"]))
    for bad in ("epochs=-1", "paint_prob=1.5", "inpaint_share=-0.1"):
        with pytest.raises(ConfigError, match=f"train.restore_pretrain.{bad.split('=')[0]}"):
            load_config(None, [f"train.restore_pretrain.{bad}"])


def test_the_detector_starts_from_the_restored_backbone_and_the_stage_is_kept(
    phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At a learning rate too small to move a weight, the detector's backbone ends where the
    restoration left it, every tensor; the decoder's four tensors are left out and the heads
    start fresh."""
    stage = ["model.backbone.norm=gn", "train.val_annotations=null", "train.warmup_steps=0",
             "train.restore_pretrain.epochs=1", "train.lr=1e-12"]  # fmt: skip
    config = load_config(None, [*overrides(phantoms, tmp_path), *stage])
    run_dir = tmp_path / "run"
    with caplog.at_level("INFO", logger="mammorcnn"):
        result = run_training(config, run_dir)
    pre_dir = run_dir / "pretrain"
    weights = pre_dir / json.loads((pre_dir / DONE_MARK).read_text())["weights"]
    restored, _ = load_weights(weights)
    final, _ = load_weights(result.best)
    backbone = {k for k in restored if not k.startswith("decoder.")}
    assert backbone == {k for k in final if k.startswith("backbone.")}
    for name in backbone:
        torch.testing.assert_close(final[name], restored[name], rtol=0, atol=1e-6, msg=name)
    loaded = [m for m in (r.getMessage() for r in caplog.records) if m.startswith(str(weights))]
    heads = len([k for k in final if not k.startswith("backbone.")])
    assert loaded == [
        f"{weights}: loaded {len(backbone)} tensors, skipped 4, {heads} model tensors not in "
        "the checkpoint"
    ]
    log = [json.loads(line) for line in (pre_dir / "train_log.jsonl").open()]
    assert any("loss_restore" in r for r in log)
    assert load_run_config(run_dir) == config  # the run's config, not the stage's
    assert load_run_config(pre_dir).train.restore_pretrain.epochs == 0
    with pytest.raises(TrainingError, match="already holds"):
        run_training(config, run_dir)
