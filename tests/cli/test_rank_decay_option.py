"""`--rank-decay` reaches the predictor from evaluate (predict shares the option): each
image's k-th detection scored times G**k, recorded in the predictions' settings; a bad value
exits 2. The rule itself: tests/engine/inference/test_rank_decay.py."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest


def _scores_by_image(folder: Path) -> dict[tuple[int, int], dict[tuple, float]]:
    grouped: dict[tuple[int, int], dict[tuple, float]] = defaultdict(dict)
    for r in json.loads((folder / "predictions.json").read_text())["results"]:
        grouped[r["image_id"], r["category_id"]][tuple(r["bbox"])] = r["score"]
    return grouped


def test_evaluate_decays_each_image_s_further_detections(
    cli, evaluate_forced, forced_weights: Path, phantoms: Path
) -> None:
    plain, decayed = evaluate_forced("plain"), evaluate_forced("decay", "--rank-decay", "0.5")
    before, after = _scores_by_image(plain), _scores_by_image(decayed)
    assert before.keys() == after.keys()
    assert max(len(s) for s in before.values()) > 1  # some image has a second mark to lower
    for key, scores in before.items():
        assert after[key].keys() == scores.keys()  # the same detections, rescored
        ranked = sorted(scores, key=lambda box: -scores[box])
        for k, box in enumerate(ranked):
            assert after[key][box] == pytest.approx(scores[box] * 0.5**k, abs=1e-4)
    settings = json.loads((decayed / "predictions.json").read_text())["settings"]
    assert settings["rank_decay"] == 0.5
    assert "rank_decay" not in json.loads((plain / "predictions.json").read_text())["settings"]
    bad = cli("evaluate", "--weights", forced_weights, "--data", phantoms, "--rank-decay", "0")
    assert bad.code == 2 and "--rank-decay" in bad.err


def test_saved_results_decayed_score_as_the_model_run_does(
    cli, evaluate_forced, phantoms: Path, tmp_path: Path
) -> None:
    plain_file = evaluate_forced("plain") / "predictions.json"
    decayed_file = evaluate_forced("ran", "--rank-decay", "0.5")
    saved = ["evaluate", "--data", phantoms, "--no-html", "--bootstrap", "10"]
    rescored = cli(*saved, "--results", plain_file, "--rank-decay", "0.5", "--out", tmp_path / "r")
    assert rescored.code == 0, rescored.err
    as_run = json.loads((tmp_path / "ran" / "report.json").read_text())["froc"]
    as_rescored = json.loads((tmp_path / "r" / "report.json").read_text())["froc"]
    assert as_rescored["sensitivities"] == pytest.approx(as_run["sensitivities"])
    assert as_rescored["thresholds"] == pytest.approx(as_run["thresholds"], abs=1e-4)
    twice = cli(*saved, "--results", decayed_file / "predictions.json", "--rank-decay", "0.5")
    assert twice.code == 2 and "rank decay" in twice.err and "predictions.json" in twice.err
    # an option only the model applies is refused with saved results, not silently ignored
    nested = cli(*saved, "--results", plain_file, "--nested-thresh", "0.5")
    assert nested.code == 2 and "--nested-thresh" in nested.err
