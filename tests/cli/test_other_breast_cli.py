"""The other breast as a second channel through the command line: train, evaluate and predict
a two-channel model; predict feeds each DICOM its study's other breast; inconsistent weights
files are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mammorcnn.engine.checkpoint import load_weights, save_weights
from mammorcnn.engine.inference import predictor as predictor_module

from ..data.conftest import write_dicom
from .conftest import tiny_config_dict


def _paired_set(phantoms: Path, tmp_path: Path) -> Path:
    """The phantoms as two women's left and right MLO films (images 1-2, 3-4). The phantoms
    all show a left breast: the "right" ones are flipped by their tag, annotations alike."""
    coco = json.loads(phantoms.read_text())
    for n, image in enumerate(coco["images"]):
        image.update(patient_id=f"w{n // 2}", view="MLO", laterality="LR"[n % 2])
        image["file_name"] = str(phantoms.parent / image["file_name"])
    path = tmp_path / "paired.json"
    path.write_text(json.dumps(coco))
    return path


@pytest.mark.filterwarnings("ignore:.*annotation says R but the image content")
def test_a_two_channel_model_trains_evaluates_and_predicts_with_partners(
    cli, phantoms: Path, tmp_path: Path, monkeypatch, caplog
):
    paired = _paired_set(phantoms, tmp_path)
    config = copy.deepcopy(tiny_config_dict(paired, tmp_path / "cache"))  # shares TINY_MODEL
    config["model"]["backbone"] = {**config["model"]["backbone"], "in_channels": 2}
    config["data"]["preprocess"]["other_breast"] = True
    config["train"]["val_annotations"] = None
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    result = cli("train", path, "--out", run)
    assert result.code == 0, result.err
    weights = run / "checkpoints" / "best.safetensors"  # nothing validated: the last epoch's
    state, meta = load_weights(weights)
    assert state["backbone.body.conv1.weight"].shape[1] == 2
    assert meta["preprocess"]["other_breast"] is True

    result = cli("evaluate", "--weights", run, "--data", paired, "--out", tmp_path / "ev",
                 "--no-html", "--device", "cpu")  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "ev" / "report.json").read_text())["n_images"] == 4

    # predict: two DICOMs of one study (left and right MLO) and a PNG without a study
    coco = json.loads(phantoms.read_text())
    films = [np.asarray(Image.open(phantoms.parent / i["file_name"])) for i in coco["images"]]
    folder = tmp_path / "study"
    folder.mkdir()
    tags = {"ViewPosition": "MLO", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.7"}
    write_dicom(folder / "a_left.dcm", films[0], ImageLaterality="L", **tags)
    write_dicom(folder / "b_right.dcm", np.ascontiguousarray(films[1][:, ::-1]),
                ImageLaterality="R", **tags)  # fmt: skip
    Image.fromarray(films[2]).save(folder / "c_alone.png")
    seen: dict[str, np.ndarray] = {}
    real_run = predictor_module.Predictor.run

    def spy(self, items):  # noqa: ANN001, ANN202
        seen.update({Path(item.source).name: item.image for item in items})
        return real_run(self, items)

    monkeypatch.setattr(predictor_module.Predictor, "run", spy)
    with caplog.at_level("WARNING"):
        result = cli("predict", "--weights", weights, folder, "--out", tmp_path / "pred",
                     "--device", "cpu", "--no-seg", "--no-overlay", "--score-threshold", "0")  # fmt: skip
    assert result.code == 0, result.err
    assert sorted(seen) == ["a_left.dcm", "b_right.dcm", "c_alone.png"]
    assert all(image.shape == (2, 128, 128) for image in seen.values())
    np.testing.assert_array_equal(seen["a_left.dcm"][1], seen["b_right.dcm"][0])
    np.testing.assert_array_equal(seen["b_right.dcm"][1], seen["a_left.dcm"][0])
    assert seen["a_left.dcm"][0].any() and not seen["c_alone.png"][1].any()
    warned = [record.getMessage() for record in caplog.records]
    assert any("1 image(s) read without their other breast" in w for w in warned), warned
    pred = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert len(pred["images"]) == 3


def test_weights_whose_halves_disagree_are_refused(cli, forced_weights: Path, tmp_path: Path):
    state, meta = load_weights(forced_weights)
    meta["preprocess"]["other_breast"] = True  # but the stem reads one channel
    bad = tmp_path / "bad.safetensors"
    save_weights(bad, state, meta)
    image = tmp_path / "in" / "x.png"
    image.parent.mkdir()
    Image.fromarray(np.full((64, 64), 30000, np.uint16)).save(image)
    out = tmp_path / "out"
    result = cli("predict", "--weights", bad, image.parent, "--out", out, "--device", "cpu")
    assert result.code == 2
    assert "bad.safetensors" in result.err
    assert "model.backbone.in_channels is 1" in result.err
    assert not out.exists()
