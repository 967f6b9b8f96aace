"""`--nested-thresh` reaches the model from evaluate (predict shares the option; the rule is
tested in tests/model/test_nested.py, in model space before boxes are clipped to the breast
crop); a bad value exits 2."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path


def _by_image(folder: Path) -> dict[int, list[dict]]:
    grouped = defaultdict(list)
    for r in json.loads((folder / "predictions.json").read_text())["results"]:
        grouped[r["image_id"]].append(r)
    return grouped


def test_evaluate_drops_nested_detections_when_asked(
    cli, evaluate_forced, forced_weights: Path, phantoms: Path
) -> None:
    nested = evaluate_forced("nested", "--nested-thresh", "0.5")
    before, after = _by_image(evaluate_forced("plain")), _by_image(nested)
    assert sum(map(len, after.values())) < sum(map(len, before.values()))
    for image_id, kept in after.items():
        # suppression only removes: every kept detection is one of the plain run's
        plain_boxes = [r["bbox"] for r in before[image_id]]
        assert all(r["bbox"] in plain_boxes for r in kept)
    settings = json.loads((nested / "predictions.json").read_text())["settings"]
    assert settings["nested_thresh"] == 0.5
    bad = cli("evaluate", "--weights", forced_weights, "--data", phantoms, "--nested-thresh", "0")
    assert bad.code == 2 and "--nested-thresh" in bad.err
