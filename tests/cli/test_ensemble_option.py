"""`--ensemble` reaches the predictor from evaluate and predict, and bad members exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.conftest import make_checkpoint


def _results(folder: Path) -> list[dict]:
    return json.loads((folder / "predictions.json").read_text())["results"]


def test_a_model_with_a_copy_of_itself_gives_its_own_detections(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    copy = shutil.copy(forced_weights, tmp_path / "copy.safetensors")
    common = ["--weights", forced_weights, "--device", "cpu", "--data", phantoms]
    plain = cli("evaluate", *common, "--no-html", "--out", tmp_path / "plain")
    both = cli("evaluate", *common, "--ensemble", copy, "--no-html", "--out", tmp_path / "both")
    assert plain.code == 0 and both.code == 0, plain.err + both.err
    # two identical views: every finding has both members, score (1 + 1) / 2, the same box
    assert _results(tmp_path / "both") == _results(tmp_path / "plain")
    settings = json.loads((tmp_path / "both" / "predictions.json").read_text())["settings"]
    assert settings["ensemble"] == [str(copy)]


def test_bad_members_exit_2_naming_the_file(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    other = make_checkpoint(tmp_path / "other_size.safetensors", image_size=96)
    common = ["--weights", forced_weights, "--device", "cpu", "--data", phantoms]
    result = cli("evaluate", *common, "--ensemble", other, "--out", tmp_path / "bad")
    assert result.code == 2
    assert "other_size.safetensors" in result.err and "preprocessing" in result.err
    assert not (tmp_path / "bad" / "predictions.json").exists()
    missing = cli("evaluate", *common, "--ensemble", tmp_path / "missing.safetensors")
    assert missing.code == 2 and "missing.safetensors" in missing.err
    twice = cli("evaluate", *common, "--ensemble", forced_weights)
    assert twice.code == 2 and "already a member" in twice.err
    saved = cli("evaluate", "--results", tmp_path / "x.json", "--data", phantoms,
                "--ensemble", forced_weights)  # fmt: skip
    assert saved.code == 2 and "--ensemble" in saved.err
