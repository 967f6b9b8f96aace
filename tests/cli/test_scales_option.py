"""`--test-time-scales` reaches the predictor from evaluate (predict shares the option; the
mapping and merging are tested against hand-computed tensors in
tests/engine/inference/test_scale_views.py); a bad value exits 2 and names the option."""

from __future__ import annotations

import json
from pathlib import Path


def test_evaluate_merges_rescaled_views_when_asked(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    common = ["--weights", forced_weights, "--device", "cpu", "--data", phantoms, "--no-html"]
    scaled = cli("evaluate", *common, "--test-time-scales", "1,1.5", "--out", tmp_path / "s")
    assert scaled.code == 0, scaled.err
    written = json.loads((tmp_path / "s" / "predictions.json").read_text())
    assert written["settings"]["test_time_scales"] == [1.0, 1.5]
    # every detection of the forced model scores 1: a finding both views saw keeps 1, one
    # that a single view saw gets (1 + 0) / 2
    scores = {round(r["score"], 6) for r in written["results"]}
    assert scores <= {1.0, 0.5} and 1.0 in scores
    for value in ("9", "1,x"):
        bad = cli("evaluate", *common, "--test-time-scales", value)
        assert bad.code == 2 and "--test-time-scales" in bad.err, value
