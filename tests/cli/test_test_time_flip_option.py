"""`--test-time-flip` reaches the predictor from predict and evaluate (the merge itself is
tested in tests/engine/inference/test_flip_merge.py)."""

from __future__ import annotations

import json
from pathlib import Path


def _scores(folder: Path) -> set[float]:
    predictions = json.loads((folder / "predictions.json").read_text())
    return {round(d["score"], 6) for d in predictions["results"]}


def test_evaluate_and_predict_pass_the_flip_option(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    common = ["--weights", forced_weights, "--device", "cpu"]
    plain = cli("evaluate", *common, "--data", phantoms, "--out", tmp_path / "plain")
    flip = cli(
        "evaluate", *common, "--data", phantoms, "--test-time-flip", "--out", tmp_path / "flip"
    )
    assert plain.code == 0 and flip.code == 0, plain.err + flip.err
    # the forced model scores every detection 1; merged, a finding one view misses gets 0.5
    assert _scores(tmp_path / "plain") == {1.0}
    assert 0.5 in _scores(tmp_path / "flip") and _scores(tmp_path / "flip") <= {0.5, 1.0}
    image = json.loads(phantoms.read_text())["images"][0]["file_name"]
    source = phantoms.parent / image
    out = tmp_path / "predict"
    result = cli(
        "predict", *common, source, "--test-time-flip", "--score-threshold", "0.6", "--out", out
    )
    assert result.code == 0, result.err
    assert _scores(out) == {1.0}  # the 0.5 findings are below the threshold
