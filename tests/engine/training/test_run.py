"""run_training end to end on synthetic phantoms: config in, checkpoints + config.yaml out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mammorcnn.config import load_config
from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.run import load_run_config, run_training
from mammorcnn.engine.training.runlog import read_log
from mammorcnn.errors import ConfigError, TrainingError


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mammorcnn.data import generate_phantom_dataset

    return generate_phantom_dataset(tmp_path_factory.mktemp("phantoms"), 4, seed=1, image_size=64)


def overrides(phantoms: Path, tmp_path: Path) -> list[str]:
    tiny = yaml.safe_dump(
        {"backbone": {"name": "resnet18", "fpn_channels": 16}}, default_flow_style=True
    )
    return [
        f"train.train_annotations={phantoms}",
        f"train.val_annotations={phantoms}",
        "train.epochs=1", "train.num_workers=0", "train.device=cpu", "train.progress=false",
        "train.tensorboard=true", "train.tb_overlays=1", "train.log_every=1",
        "data.preprocess.image_size=64", f"data.cache_dir={tmp_path / 'cache'}",
        f"model={tiny.strip()}", "model.box_head.fc_dim=32", "model.mask_head.conv_channels=16",
        "model.rpn.post_nms_top_n_train=50", "model.rpn.post_nms_top_n_test=50",
    ]  # fmt: skip


def test_run_training_on_phantoms_then_resume(phantoms: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = load_config(None, overrides(phantoms, tmp_path))
    result = run_training(config, run_dir)
    assert result.best == run_dir / "checkpoints" / "best.safetensors"
    assert set(result.metrics) >= {"froc/sens@1", "froc/mean_sens", "froc/sens@0.125"}
    assert 0.0 <= result.metrics["froc/sens@1"] <= 1.0
    _, meta = load_weights(result.best)
    assert meta["class_names"] == ["mass"] and meta["preprocess"]["image_size"] == 64
    assert meta["model_config"]["backbone"]["fpn_channels"] == 16
    assert load_run_config(run_dir) == config  # the resolved config is saved beside the run
    assert (run_dir / "tensorboard").is_dir() and len(read_log(run_dir, "val")) == 1
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        run_training(config, run_dir)
    assert load_run_config(run_dir) == config  # refused before touching config.yaml
    longer = load_run_config(run_dir, ["train.epochs=2"])
    again = run_training(longer, run_dir, resume=True)
    assert again.epoch == 2 and load_run_config(run_dir).train.epochs == 2


def test_validation_scores_as_the_predictor_does(
    phantoms: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training's validation gets the config's rank decay and pectoral weight, and each
    image's view from the annotation file (the pectoral rule acts on MLO-type views only)."""
    from mammorcnn.engine.training import validation

    seen: dict = {}
    real = validation.make_evaluator

    def spy(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "make_evaluator", spy)
    rules = ["model.box_head.rank_decay=0.7", "model.box_head.pectoral_weight=1"]
    run_training(load_config(None, [*overrides(phantoms, tmp_path), *rules]), tmp_path / "run")
    views = [image.get("view") for image in json.loads(phantoms.read_text())["images"]]
    assert seen["rank_decay"] == 0.7 and seen["pectoral_weight"] == 1.0
    assert seen["views"] == views and "MLO" in views


def test_run_training_config_errors(phantoms: Path, tmp_path: Path) -> None:
    base = overrides(phantoms, tmp_path)
    with pytest.raises(ConfigError, match="train.train_annotations is not set"):
        run_training(load_config(None, [*base, "train.train_annotations=null"]), tmp_path / "a")
    with pytest.raises(ConfigError) as mismatch:
        run_training(load_config(None, [*base, "model.num_classes=2"]), tmp_path / "b")
    message = str(mismatch.value)
    assert message.startswith(f"{phantoms}: model.num_classes=2 but the training annotations")
    assert "have 1 category (mass); set model.num_classes=1 or convert" in message
    with pytest.raises(ConfigError, match="no such file"):
        load_run_config(tmp_path / "nothing")


def test_null_class_count_is_the_training_files(
    phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``model.num_classes: null`` builds as many classes as the training file's categories,
    records that number (config.yaml, checkpoint) without changing the caller's config, and
    says which marked finding types the file leaves as background."""
    data = json.loads(phantoms.read_text())
    for image in data["images"]:
        image["file_name"] = str(phantoms.parent / image["file_name"])
    data["categories"].append({"id": 2, "name": "asymmetry"})
    data["images"][0]["has_other_findings"] = ["architectural_distortion"]
    two = tmp_path / "two.json"
    two.write_text(json.dumps(data))
    base = overrides(phantoms, tmp_path)[2:]  # the same run on two.json
    config = load_config(None, [f"train.train_annotations={two}", "train.val_annotations=null",
                                *base, "model.num_classes=null"])  # fmt: skip
    assert config.model.num_classes is None
    with caplog.at_level("INFO", logger="mammorcnn"):
        result = run_training(config, tmp_path / "run")
    assert config.model.num_classes is None  # a crossval reuses it for every fold
    assert load_run_config(tmp_path / "run").model.num_classes == 2
    _, meta = load_weights(result.best)
    assert meta["class_names"] == ["mass", "asymmetry"] and meta["category_ids"] == [1, 2]
    assert meta["model_config"]["num_classes"] == 2
    assert f"{two} also marks findings it has no annotations for (" in caplog.text
    assert "architectural_distortion on 1 image(s)" in caplog.text
    assert "model.num_classes: 2, from the training annotations' categories" in caplog.text


@pytest.mark.parametrize("change", ["train.lr=0.5", "train.weight_decay=0.3", "train.momentum=0.5"])
def test_resume_refuses_changes_the_optimiser_state_would_ignore(
    change: str, phantoms: Path, tmp_path: Path
) -> None:
    """The optimiser's saved state keeps lr, weight decay and momentum: a resume that changes
    one is refused in one line, and config.yaml keeps the value actually used."""
    run_dir = tmp_path / "run"
    config = load_config(None, [*overrides(phantoms, tmp_path), "train.val_annotations=null"])
    run_training(config, run_dir)
    saved = (run_dir / "config.yaml").read_text()
    changed = load_run_config(run_dir, [change, "train.epochs=2"])
    key = change.split("=")[0]
    with pytest.raises(ConfigError, match=rf"resuming cannot change {key}: .* -> 0\.[0-9]"):
        run_training(changed, run_dir, resume=True)
    assert (run_dir / "config.yaml").read_text() == saved
    assert len(list((run_dir / "checkpoints").glob("step-*.state.pt"))) == 1  # nothing trained


def test_score_calibration_is_fitted_on_the_training_file_into_the_best_weights(
    phantoms: Path, tmp_path: Path
) -> None:
    from mammorcnn.engine.inference.score_calibration import METADATA_KEY, ScoreCalibration

    plain = run_training(load_config(None, overrides(phantoms, tmp_path)), tmp_path / "plain")
    assert METADATA_KEY not in load_weights(plain.best)[1]
    config = load_config(None, [*overrides(phantoms, tmp_path), "train.score_calibration=true"])
    result = run_training(config, tmp_path / "run")
    _, meta = load_weights(result.best)
    calibration = ScoreCalibration.from_metadata(meta[METADATA_KEY], result.best)
    assert calibration.n_images == 4 and set(calibration.classes) == {"mass"}
    # the step checkpoints stay as trained
    assert METADATA_KEY not in load_weights(result.last)[1]
