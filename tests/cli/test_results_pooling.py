"""`evaluate --results A --results B` (or `--results A B`): predictions files of parts of a
set (the folds of a cross-validation) scored together, as the one file of the whole set is."""

from __future__ import annotations

import json
from pathlib import Path


def _part(whole: dict, ids: set[int], path: Path) -> Path:
    """A predictions file of the images ``ids`` only (as a run on that part writes it)."""
    part = {
        **whole,
        "images": [i for i in whole["images"] if i["id"] in ids],
        "results": [r for r in whole["results"] if r["image_id"] in ids],
    }
    path.write_text(json.dumps(part))
    return path


def test_parts_score_as_the_whole_and_must_cover_it_once(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
) -> None:
    ran = cli("evaluate", "--weights", forced_weights, "--device", "cpu", "--data", phantoms,
              "--no-html", "--out", tmp_path / "whole")  # fmt: skip
    assert ran.code == 0, ran.err
    whole_file = tmp_path / "whole" / "predictions.json"
    whole = json.loads(whole_file.read_text())
    a = _part(whole, {1, 2}, tmp_path / "a.json")
    b = _part(whole, {3, 4}, tmp_path / "b.json")
    one = cli("evaluate", "--results", whole_file, "--data", phantoms)
    two = cli("evaluate", "--results", a, "--results", b, "--data", phantoms)
    assert one.code == 0 and two.code == 0, one.err + two.err
    assert two.out == one.out  # the same table
    listed = cli("evaluate", "--results", a, b, "--data", phantoms)  # fold{0,1}/... in a shell
    assert listed.code == 0 and listed.out == one.out, listed.err
    twice = cli("evaluate", "--results", a, "--results", a, "--results", b, "--data", phantoms)
    assert twice.code == 2 and "a.json" in twice.err and "twice" in twice.err
    c = _part(whole, {2, 3}, tmp_path / "c.json")
    overlap = cli("evaluate", "--results", a, "--results", c, "--data", phantoms)
    assert overlap.code == 2 and "c.json" in overlap.err and "a.json too" in overlap.err
    half = cli("evaluate", "--results", a, "--data", phantoms)
    assert half.code == 2 and "a.json" in half.err and "not predicted" in half.err
