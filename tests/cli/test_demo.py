"""`mammorcnn demo`: the plumbing on a few tiny phantoms (--quick), the shipped configs, and
the --minutes budget arithmetic. The full demo (the 0.8 sensitivity target, ~6 minutes) is
measured in docs/demo.md, not here."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from mammorcnn.cli.main import main
from mammorcnn.config import Config, config_to_dict, load_config
from mammorcnn.engine.demo import DemoSettings, demo_config, fit_epochs, run_demo
from mammorcnn.errors import ConfigError, InputError
from mammorcnn.model import ModelConfig

CONFIGS = Path(__file__).parents[2] / "src" / "mammorcnn" / "configs"
FP_RATES = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0]


@pytest.fixture(scope="module")
def quick_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `mammorcnn demo --quick` run through the real entry point: (out dir, stdout)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["demo", "--quick", "--out", str(out)])
    assert code == 0
    return out, buffer.getvalue()


def test_quick_demo_writes_report_plots_overlays_and_checkpoint(quick_cli) -> None:
    out, printed = quick_cli
    report = json.loads((out / "eval" / "report.json").read_text())
    assert report["froc"]["fp_rates"] == FP_RATES
    assert len(report["froc"]["sensitivities"]) == len(FP_RATES)
    assert {"froc", "coco", "dice", "n_images", "n_lesions"} <= set(report)
    settings, _ = demo_config(quick=True)
    assert report["n_images"] == settings.test_images
    for name in ("froc.png", "pr_curve.png"):
        assert (out / "eval" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    overlays = sorted((out / "overlays").glob("*.png"))
    assert len(overlays) == settings.overlays
    weights = out / "run" / "checkpoints" / "best.safetensors"
    assert weights.is_file()
    summary = json.loads((out / "demo.json").read_text())
    assert summary["weights"] == str(weights) and summary["quick"] is True
    # The printed table and where everything is.
    assert "FROC sensitivity at 1 false positive per image:" in printed
    for path in (out / "eval" / "report.json", out / "eval" / "froc.png", out / "overlays"):
        assert str(path) in printed
    assert f"checkpoint: {weights}" in printed


def test_quick_checkpoint_loads_for_predict_and_evaluate(quick_cli) -> None:
    from mammorcnn.engine.inference import load_trained_model

    out, _ = quick_cli
    loaded = load_trained_model(out / "run", "cpu")  # a run folder means its best weights
    _, config = demo_config(quick=True)
    assert loaded.preprocess.image_size == config.data.preprocess.image_size
    assert loaded.model_config.backbone.name == config.model.backbone.name
    assert loaded.class_names == ["mass"]


def test_the_demo_evaluation_equals_mammorcnn_evaluate(quick_cli, tmp_path: Path) -> None:
    """The demo and `mammorcnn evaluate` reach the scores through the same engine function:
    on the demo's checkpoint and test set they agree figure for figure."""
    from mammorcnn.cli.main import main

    out, _ = quick_cli
    demo_report = json.loads((out / "eval" / "report.json").read_text())
    test_json = json.loads((out / "demo.json").read_text())["test_annotations"]
    args = ["evaluate", "--weights", str(out / "run"), "--data", test_json, "--out", str(tmp_path)]
    assert main([*args, "--device", "cpu", "--no-html"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("froc", "coco", "dice", "n_images", "n_lesions", "n_predictions", "scoring"):
        assert report[key] == demo_report[key], key


def test_demo_is_repeatable_and_reruns_in_its_own_folder(quick_cli, tmp_path: Path) -> None:
    out, _ = quick_cli
    again = tmp_path / "again"
    run_demo(again, quick=True, progress=False)
    first = load_file(out / "run" / "checkpoints" / "best.safetensors")
    second = load_file(again / "run" / "checkpoints" / "best.safetensors")
    assert first.keys() == second.keys()
    assert all(first[k].equal(second[k]) for k in first), "same seed, different weights"
    results = (out / "eval" / "results.json").read_text()
    assert (again / "eval" / "results.json").read_text() == results
    # Running again into a demo folder replaces its outputs.
    run_demo(again, quick=True, seed=1, progress=False)
    assert json.loads((again / "demo.json").read_text())["seed"] == 1
    assert (again / "eval" / "results.json").read_text() != results


def test_demo_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not empty"):
        run_demo(tmp_path, quick=True, progress=False)
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_demo_config_keeps_the_specification_architecture() -> None:
    settings, config = demo_config()
    spec = ModelConfig()
    model = config.model
    assert model.anchors == spec.anchors  # 5 sizes x 3 ratios on P2..P6, spec values
    assert model.box_head.roi_output_size == 7 and model.mask_head.roi_output_size == 14
    assert model.mask_head.conv_layers == spec.mask_head.conv_layers
    assert model.num_classes == 1 and config.train.deterministic
    assert settings.threads == 1
    # Training uses the demo's own seed, and the test phantoms are never trained on.
    assert demo_config(seed=7)[1].train.seed == 7


def test_demo_config_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "demo.yaml"
    bad.write_text("demo: {train_imgs: 3}\n")
    with pytest.raises(ConfigError, match="train_imgs"):
        demo_config(bad)
    bad.write_text("demo: {train_images: 2.5}\n")
    with pytest.raises(ConfigError, match="demo.train_images"):
        demo_config(bad)
    bad.write_text("train: {lrr: 1}\n")
    with pytest.raises(ConfigError, match="train.lrr"):
        demo_config(bad)
    with pytest.raises(ConfigError, match="minutes"):
        run_demo(tmp_path / "x", quick=True, minutes=0)


def test_demo_overrides_apply_last_and_strictly() -> None:
    settings, config = demo_config(
        overrides=["demo.train_images=7", "train.amp=bf16", "model.box_head.fc_dim=128"]
    )
    assert settings.train_images == 7 and config.train.amp == "bf16"
    assert config.model.box_head.fc_dim == 128
    assert config.train.epochs == demo_config()[1].train.epochs  # the rest is demo.yaml's
    quick, _ = demo_config(quick=True, overrides=["demo.train_images=3"])
    assert quick.train_images == 3  # over the quick section too
    with pytest.raises(ConfigError, match="train_imgs"):
        demo_config(overrides=["demo.train_imgs=3"])
    with pytest.raises(ConfigError, match="train.amp"):
        demo_config(overrides=["train.amp=fp8"])


def test_default_yaml_equals_the_defaults() -> None:
    loaded = load_config(CONFIGS / "default.yaml")
    assert config_to_dict(loaded) == config_to_dict(Config())


def test_fit_epochs_known_answers() -> None:
    # 96 images / batch 2 = 48 steps per epoch at 1 s; inference 0.25 s per image; validation
    # (16 images = 4 s) after epochs 2, 4, 6 and the last; test 40 + 4 overlays = 11 s.
    settings = DemoSettings(train_images=96, val_images=16, test_images=40, overlays=4)
    config = Config()
    config.train.epochs, config.train.val_every, config.train.batch_size = 6, 2, 2
    assert fit_epochs(config, settings, 1.0, 6 * 48 + 3 * 4 + 11) == 6
    assert fit_epochs(config, settings, 1.0, 6 * 48 + 3 * 4 + 10) == 5
    assert fit_epochs(config, settings, 1.0, 5 * 48 + 3 * 4 + 11) == 5  # epochs 2, 4, 5
    assert fit_epochs(config, settings, 1.0, 5 * 48 + 3 * 4 + 10) == 4
    assert fit_epochs(config, settings, 1.0, 10_000) == 6  # never more than configured
    assert fit_epochs(config, settings, 1.0, 1) == 1
