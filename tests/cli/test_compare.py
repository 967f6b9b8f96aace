"""`mammorcnn compare`: table, compare.html, the paired difference, and different ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "report"))
from browser import Browser, find_chromium  # noqa: E402


def _results(gt: dict, skip_image: int | None) -> list[dict]:
    """A mark on every lesion (its own box) except on image ``skip_image``."""
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
         "score": 0.9}
        for a in gt["annotations"]
        if a["image_id"] != skip_image
    ]  # fmt: skip


def _evaluate(cli, gt_path: Path, results: list[dict], out: Path) -> Path:
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(results))
    result = cli("evaluate", "--results", out / "results.json", "--data", gt_path, "--out", out,
                 "--no-html", "--bootstrap", "50")  # fmt: skip
    assert result.code == 0, result.err
    return out


def test_compare_two_reports(cli, phantoms: Path, tmp_path: Path) -> None:
    gt = json.loads(phantoms.read_text())
    first = gt["images"][0]["id"]
    a = _evaluate(cli, phantoms, _results(gt, None), tmp_path / "a")
    b = _evaluate(cli, phantoms, _results(gt, first), tmp_path / "b")
    out = tmp_path / "cmp"
    result = cli("compare", a, b / "report.json", "--out", out, "--bootstrap", "2000")
    assert result.code == 0, result.err
    assert "diff@1" in result.out and str(a) in result.out
    compared = json.loads((out / "compare.json").read_text())
    n = len(gt["annotations"])
    n_first = sum(x["image_id"] == first for x in gt["annotations"])
    woman = gt["images"][0]["patient_id"]
    ids = {i["id"] for i in gt["images"] if i["patient_id"] == woman}
    n_woman = sum(x["image_id"] in ids for x in gt["annotations"])
    diff = compared["rows"][1]["difference_vs_first"]
    # B misses image 1's lesions. Resamples of the 2 women: her twice -> -n_first/n_woman,
    # both -> -n_first/n, the other twice -> 0; each extreme has probability 1/4.
    assert diff["difference"] == pytest.approx(-n_first / n)
    assert diff["lower"] == pytest.approx(-n_first / n_woman) and diff["upper"] == 0.0
    assert compared["rows"][0]["difference_vs_first"] is None
    # B found every lesion but image 1's: those are the discordant ones, all one way.
    pairs = compared["rows"][1]["lesions_vs_first"]
    stem = Path(gt["images"][0]["file_name"]).stem
    names = [stem] if n_first == 1 else [f"{stem}#{k}" for k in range(1, n_first + 1)]
    assert (pairs["both"], pairs["only_first"], pairs["only_other"]) == (n - n_first, n_first, 0)
    assert pairs["only_first_lesions"] == sorted(names) and pairs["neither"] == 0
    assert pairs["p_value"] == pytest.approx(min(1.0, 2 * 0.5**n_first))
    assert f"only by 1 {n_first} ({', '.join(sorted(names))})" in result.out
    assert compared["rows"][0]["lesions_vs_first"] is None
    assert (out / "compare.html").is_file() and (out / "compare_froc.png").is_file()
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install chromium) to render compare.html")
    with Browser(chromium) as browser:
        page = browser.open((out / "compare.html").as_uri())
        assert page.js("document.querySelectorAll('tbody tr').length") >= 2
        assert "only by 1" in page.js("document.body.innerText")
        assert page.all_images_load() == []
        assert page.errors() == []


def test_compare_refuses_different_ground_truth(cli, phantoms: Path, tmp_path: Path) -> None:
    gt = json.loads(phantoms.read_text())
    a = _evaluate(cli, phantoms, _results(gt, None), tmp_path / "a")
    other = dict(gt, annotations=gt["annotations"][1:])
    other_path = phantoms.parent / "other_gt.json"
    other_path.write_text(json.dumps(other))
    c = _evaluate(cli, other_path, _results(other, None), tmp_path / "c")
    result = cli("compare", a, c, "--out", tmp_path / "cmp")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "different ground truth" in lines[0]
    assert str(a / "report.json") in lines[0] and str(c / "report.json") in lines[0]
    assert not (tmp_path / "cmp" / "compare.html").exists()
    result = cli("compare", a, tmp_path / "nowhere")
    assert result.code == 2 and "nowhere" in result.err and "report.json" in result.err


def test_compare_notes_scores_made_differently(cli, phantoms: Path, tmp_path: Path) -> None:
    """Reports record how their scores were made (`scoring`); compare says where two differ,
    or that one does not say, and nothing when neither does (bare COCO results)."""
    from mammorcnn.engine.metrics.operating_point import scoring_settings

    gt = json.loads(phantoms.read_text())
    a = _evaluate(cli, phantoms, _results(gt, None), tmp_path / "a")
    b = _evaluate(cli, phantoms, _results(gt, None), tmp_path / "b")
    plain = cli("compare", a, b, "--out", tmp_path / "c0", "--bootstrap", "10")
    assert plain.code == 0, plain.err
    assert "scoring" not in plain.out

    def set_scoring(folder: Path, scoring: dict | None) -> None:
        report = json.loads((folder / "report.json").read_text())
        report.pop("scoring", None)
        report |= {} if scoring is None else {"scoring": scoring}
        (folder / "report.json").write_text(json.dumps(report))

    set_scoring(a, scoring_settings({"test_time_flip": True}))
    set_scoring(b, scoring_settings({"test_time_flip": True, "rank_decay": 0.7}))
    differ = cli("compare", a, b, "--out", tmp_path / "c1", "--bootstrap", "10")
    assert differ.code == 0, differ.err
    assert "scoring, 2 vs 1: rank decay 0.7 vs 1.0" in differ.out
    assert "test-time flip" not in differ.out  # the same in both
    page = (tmp_path / "c1" / "compare.html").read_text()
    assert "scoring, 2 vs 1: rank decay 0.7 vs 1.0" in page
    set_scoring(b, None)
    unknown = cli("compare", a, b, "--out", tmp_path / "c2", "--bootstrap", "10")
    assert "scoring: report 2 does not record how its scores were made" in unknown.out
