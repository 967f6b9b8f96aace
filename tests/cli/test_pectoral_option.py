"""`--pectoral-weight` reaches the predictor from evaluate (predict shares the option): on the
phantoms (two CC, two MLO views with a drawn muscle) weight 1 drops exactly the detections
centred in the muscle the rule finds in the MLO inputs, and nothing of the CC views; it is
recorded in the predictions' settings; a bad value, or saved results, exit 2. The rule
itself: tests/engine/inference/test_pectoral.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mammorcnn.data.cache import dequantise, quantise
from mammorcnn.data.io import read_image
from mammorcnn.data.preprocess import PreprocessConfig, preprocess
from mammorcnn.engine.inference.pectoral import find_pectoral_line, in_muscle

from .conftest import IMAGE_SIZE


def _results(folder: Path) -> list[dict]:
    return json.loads((folder / "predictions.json").read_text())["results"]


def _centred_in_muscle(phantoms: Path) -> dict[int, callable]:
    """image id -> whether an original-pixel x, y, w, h box is centred in its muscle (MLO
    images whose input shows one), from the inputs the checkpoint's preprocessing makes."""
    coco = json.loads(phantoms.read_text())
    tests = {}
    for info in coco["images"]:
        raw = read_image(phantoms.parent / info["file_name"])
        image, record = preprocess(raw, PreprocessConfig(image_size=IMAGE_SIZE))
        line = find_pectoral_line(dequantise(quantise(image)))
        if info["view"] != "MLO" or line is None:
            tests[info["id"]] = lambda box: False
            continue

        def inside(box, line=line, record=record) -> bool:
            x, y, w, h = box
            centre = record.boxes_to_model(np.array([[x + w / 2, y + h / 2] * 2]))
            return bool(in_muscle(torch.from_numpy(centre), line)[0])

        tests[info["id"]] = inside
    assert sum(info["view"] == "MLO" for info in coco["images"]) == 2
    return tests


def test_evaluate_drops_what_lies_in_the_muscle_of_mlo_views(
    cli, evaluate_forced, forced_weights: Path, phantoms: Path
) -> None:
    plain = _results(evaluate_forced("plain"))
    lowered_dir = evaluate_forced("pectoral", "--pectoral-weight", "1")
    lowered = _results(lowered_dir)
    in_muscle = _centred_in_muscle(phantoms)
    expected = [r for r in plain if not in_muscle[r["image_id"]](r["bbox"])]
    assert len(expected) < len(plain)  # the forced detections include some in a muscle
    key = lambda r: (r["image_id"], tuple(r["bbox"]))  # noqa: E731
    assert sorted(map(key, lowered)) == sorted(map(key, expected))
    settings = json.loads((lowered_dir / "predictions.json").read_text())["settings"]
    assert settings["pectoral_weight"] == 1
    bad = cli("evaluate", "--weights", forced_weights, "--data", phantoms, "--pectoral-weight", "2")
    assert bad.code == 2 and "--pectoral-weight" in bad.err


def test_saved_results_are_refused_with_the_rule(cli, evaluate_forced, phantoms: Path) -> None:
    plain_file = evaluate_forced("plain") / "predictions.json"
    saved = cli("evaluate", "--data", phantoms, "--results", plain_file, "--pectoral-weight", "1")
    assert saved.code == 2 and "--pectoral-weight" in saved.err and "--weights" in saved.err


def test_predict_applies_the_rule_to_files_of_unknown_view_only_when_told(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A PNG named without a view token is of unknown view: the rule leaves it (and says so
    once) unless --view states the view; its marks then match evaluate's on the same image."""
    coco = json.loads(phantoms.read_text())
    mlo = [info for info in coco["images"] if info["view"] == "MLO"]
    folder = tmp_path / "films"
    folder.mkdir()
    for k, info in enumerate(mlo):
        shutil.copy(phantoms.parent / info["file_name"], folder / f"film{k}.png")

    def boxes(name: str, *options: str) -> tuple[set[tuple], str]:
        """(file index, box) of each mark; what was logged."""
        out = tmp_path / name
        result = cli("predict", "--weights", forced_weights, folder, "--out", out, "--device",
                     "cpu", "--no-seg", "--no-overlay", "--score-threshold", "0.5",
                     "--pectoral-weight", "1", *options)  # fmt: skip
        assert result.code == 0, result.err
        pred = json.loads((out / "predictions.json").read_text())
        index = {image["id"]: int(Path(image["file"]).stem[4:]) for image in pred["images"]}
        said = caplog.text
        caplog.clear()
        return {(index[r["image_id"]], tuple(r["bbox"])) for r in pred["results"]}, said

    unknown, said = boxes("unknown")
    stated, quiet = boxes("stated", "--view", "mlo")
    assert "view unknown" in said and "--view" in said and "view unknown" not in quiet
    tests = _centred_in_muscle(phantoms)
    inside = {(k, box) for k, box in unknown if tests[mlo[k]["id"]](box)}
    assert inside and stated == unknown - inside
    bad = cli("predict", "--weights", forced_weights, folder, "--out", tmp_path / "bad",
              "--view", "SIDEWAYS")  # fmt: skip
    assert bad.code == 2 and "--view" in bad.err
