"""Phantom pretraining (train.phantom_pretrain): the stage's config, its phantoms, and a run
that starts the real training from the pretraining's weights, resumes, and refuses to redo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mammorcnn.config import load_config
from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.phantom_pretrain import (
    DONE_MARK,
    check_pretraining,
    generate_phantoms,
    pretraining_config,
    starting_from,
)
from mammorcnn.engine.training.run import load_run_config, pretrain_once, run_training
from mammorcnn.errors import ConfigError, TrainingError

from .test_run import overrides

RECIPE = Path(__file__).parents[3] / "src/mammorcnn/configs/mini-mias.yaml"


def test_the_stage_trains_the_runs_model_and_optimiser_on_phantoms(tmp_path: Path) -> None:
    config = load_config(
        RECIPE,
        [
            "train.phantom_pretrain.images=320",
            "train.val_annotations=v.json",
            "data.augment.synthetic_mass_prob=0.5",
        ],
    )
    pre = pretraining_config(config, tmp_path / "annotations.json")
    assert pre.train.train_annotations == str(tmp_path / "annotations.json")
    assert pre.train.val_annotations is None and pre.train.select == "last"
    assert pre.train.epochs == 8 and pre.train.lesion_repeat == 1
    assert pre.model.num_classes == 1 and pre.data.augment.paste_prob == 0
    assert pre.data.augment.synthetic_mass_prob == 0
    assert pre.train.phantom_pretrain.images == 0  # no pretraining of the pretraining
    assert config.train.phantom_pretrain.images == 320 and config.train.lesion_repeat == 3
    # everything else is the run's own: architecture, crops, optimiser, schedule
    assert pre.model.backbone == config.model.backbone and pre.model.anchors == config.model.anchors
    assert pre.data.augment.crop_size == config.data.augment.crop_size
    assert (pre.train.lr, pre.train.optimizer) == (config.train.lr, config.train.optimizer)


@pytest.mark.parametrize(("norm", "expected"), [(None, "bn"), ("gn", "gn")])
def test_the_real_training_keeps_its_from_scratch_norm_and_trainable_stages(
    norm: str | None, expected: str
) -> None:
    """Unlike ImageNet weights, phantom weights freeze nothing: BN stays trainable, all 5
    stages train (backbone_training's pretrained rule would give frozen BN and 3)."""
    config = load_config(None, [f"model.backbone.norm={norm or 'null'}"])
    model = starting_from(config.model, Path("w.safetensors"))
    assert model.init_checkpoint == "w.safetensors"
    assert (model.backbone.norm, model.backbone.trainable_layers) == (expected, 5)
    assert model.backbone_training() == (expected, 5)
    assert config.model.init_checkpoint is None  # the run's config is not changed


@pytest.mark.parametrize(
    ("other", "named"),
    [
        ("model.init_checkpoint=x.pth", "init_checkpoint"),
        ("model.backbone.weights=imagenet", "backbone.weights"),
    ],
)
def test_other_initial_weights_are_refused(other: str, named: str) -> None:
    config = load_config(None, ["train.phantom_pretrain.images=8", other])
    with pytest.raises(ConfigError, match=f"phantom_pretrain.images > 0 and model.{named}"):
        check_pretraining(config)
    check_pretraining(load_config(None, [other]))  # either alone is fine


@pytest.mark.parametrize(
    "bad",
    ["images=-1", "epochs=0", "masses_per_image=[2, 1]", "negative_fraction=1.5",
     "size_range=[0.1, 0.6]", "contrast_range=[0, 0.2]"],
)  # fmt: skip
def test_impossible_settings_fail_at_load_naming_the_field(bad: str) -> None:
    with pytest.raises(ConfigError, match="train.phantom_pretrain"):
        load_config(None, [f"train.phantom_pretrain.{bad}"])


def test_phantoms_are_made_once_per_settings(tmp_path: Path) -> None:
    config = load_config(None, ["train.phantom_pretrain.images=3", "data.preprocess.image_size=64"])
    annotations = generate_phantoms(config, tmp_path)
    coco = json.loads(annotations.read_text())
    assert len(coco["images"]) == 3 and {i["width"] for i in coco["images"]} == {64}
    first = annotations.stat().st_mtime_ns
    assert generate_phantoms(config, tmp_path).stat().st_mtime_ns == first  # reused
    other = load_config(None, ["train.phantom_pretrain.images=4", "data.preprocess.image_size=64"])
    assert len(json.loads(generate_phantoms(other, tmp_path).read_text())["images"]) == 4


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_weights(path)[0]


def _config(phantoms: Path, tmp_path: Path, *extra: str):  # noqa: ANN202 - a Config
    """The tiny model with GroupNorm (no running statistics move at a zero-ish lr), no
    validation, 4 phantoms of pretraining for 1 epoch."""
    stage = ["model.backbone.norm=gn", "train.val_annotations=null", "train.warmup_steps=0",
             "train.phantom_pretrain.images=4", "train.phantom_pretrain.epochs=1"]  # fmt: skip
    return load_config(None, [*overrides(phantoms, tmp_path), *stage, *extra])


def test_a_run_pretrains_then_trains_and_refuses_to_redo(
    phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(phantoms, tmp_path)
    run_dir = tmp_path / "run"
    with caplog.at_level("INFO", logger="mammorcnn"):
        result = run_training(config, run_dir)
    pre_dir = run_dir / "pretrain"
    weights = pre_dir / json.loads((pre_dir / DONE_MARK).read_text())["weights"]
    assert weights == pre_dir / "checkpoints" / "best.safetensors" and weights.is_file()
    assert len(list((pre_dir / "phantoms" / "images").iterdir())) == 4
    loaded = [r.getMessage() for r in caplog.records if r.getMessage().startswith(str(weights))]
    assert len(loaded) == 1 and "skipped 0, 0 model tensors not in the checkpoint" in loaded[0]
    assert result.best.parent == run_dir / "checkpoints"
    assert load_run_config(run_dir) == config  # the run's config, not the stage's
    assert load_run_config(pre_dir).model.num_classes == 1
    with pytest.raises(TrainingError, match="already holds"):
        run_training(config, run_dir)
    pre_files = {p: p.stat().st_mtime_ns for p in (pre_dir / "checkpoints").iterdir()}
    longer = load_run_config(run_dir, ["train.epochs=2"])
    assert run_training(longer, run_dir, resume=True).epoch == 2
    assert {p: p.stat().st_mtime_ns for p in (pre_dir / "checkpoints").iterdir()} == pre_files


def test_the_real_training_starts_from_the_pretrainings_weights(
    phantoms: Path, tmp_path: Path
) -> None:
    """At a learning rate too small to move a weight, the real training ends where it
    started: at the pretraining's weights, every tensor; from scratch it ends elsewhere."""
    run_dir = tmp_path / "run"
    pretrained = _weights(pretrain_once(_config(phantoms, tmp_path), run_dir / "pretrain"))
    still = _config(phantoms, tmp_path, "train.lr=1e-12")
    final = _weights(run_training(still, run_dir, resume=True).best)  # reuses the pretraining
    assert final.keys() == pretrained.keys()
    for name, tensor in final.items():
        torch.testing.assert_close(tensor, pretrained[name], rtol=0, atol=1e-6, msg=name)
    scratch_config = _config(
        phantoms, tmp_path, "train.lr=1e-12", "train.phantom_pretrain.images=0"
    )
    scratch = _weights(run_training(scratch_config, tmp_path / "scratch").best)
    assert max((scratch[k] - pretrained[k]).abs().max().item() for k in final) > 1e-4


def test_a_run_killed_in_its_pretraining_resumes_both_stages(
    phantoms: Path, tmp_path: Path
) -> None:
    """Killed after the pretraining's last checkpoint, before its mark and the real
    training's first checkpoint: --resume keeps the pretraining and trains the rest."""
    config = _config(phantoms, tmp_path)
    run_dir = tmp_path / "run"
    pretrain_once(config, run_dir / "pretrain")
    (run_dir / "pretrain" / DONE_MARK).unlink()
    pre_files = {p: p.stat().st_mtime_ns for p in (run_dir / "pretrain/checkpoints").iterdir()}
    result = run_training(config, run_dir, resume=True)
    assert (run_dir / "pretrain" / DONE_MARK).is_file() and result.epoch == 1
    after = {p: p.stat().st_mtime_ns for p in (run_dir / "pretrain/checkpoints").iterdir()}
    assert after == pre_files
