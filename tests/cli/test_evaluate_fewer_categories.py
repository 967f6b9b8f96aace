"""`evaluate` of a model of two classes on a file of one: paired by name, the other dropped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from .conftest import make_checkpoint


def test_mass_and_calcification_model_on_the_mass_file(
    cli, phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    weights = make_checkpoint(
        tmp_path / "two.safetensors", num_classes=2, force=True,
        class_names=["mass", "calcification"],
    )  # fmt: skip
    out = tmp_path / "eval"
    with caplog.at_level(logging.INFO):
        result = cli("evaluate", "--weights", weights, "--device", "cpu", "--data", phantoms,
                     "--out", out, "--no-html", "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert result.code == 0, result.err
    assert "has no category 'calcification'" in caplog.text and "not scored" in caplog.text
    predictions = json.loads((out / "predictions.json").read_text())
    assert {r["category_id"] for r in predictions["results"]} == {1}
    assert predictions["settings"]["unscored_classes"] == ["calcification"]
    # a file category no class is named after is still refused (test_bad_inputs.py)
    named_else = make_checkpoint(tmp_path / "else.safetensors", num_classes=2,
                                 class_names=["calcification", "asymmetry"])  # fmt: skip
    refused = cli("evaluate", "--weights", named_else, "--data", phantoms,
                  "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert refused.code == 2 and "no class of the model is named 'mass'" in refused.err


def test_a_file_of_several_categories_says_they_are_scored_together(
    cli, phantoms: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    coco = json.loads(phantoms.read_text())
    coco["categories"] = [*coco["categories"], {"id": 2, "name": "asymmetry"}]
    two = tmp_path / "two.json"
    two.write_text(json.dumps(coco))
    box = coco["annotations"][0]["bbox"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": coco["annotations"][0]["image_id"],
                                    "category_id": 1, "bbox": box, "score": 0.9}]))  # fmt: skip
    with caplog.at_level(logging.INFO):
        assert cli("evaluate", "--results", results, "--data", two).code == 0
    assert "has 2 categories (mass, asymmetry): every category's" in caplog.text
    assert "--category NAME scores one alone" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert cli("evaluate", "--results", results, "--data", two, "--category", "mass").code == 0
    assert "scored together" not in caplog.text
