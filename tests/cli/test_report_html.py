"""evaluate writes report.html and predict writes index.html; both checked in headless Chromium."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "report"))
from browser import Browser, find_chromium  # noqa: E402

CHROMIUM = find_chromium()
NO_BROWSER = "no chromium on PATH (apt-get install chromium) to render the pages"


def test_evaluate_writes_report_html(cli, phantoms: Path, forced_weights: Path, tmp_path: Path):
    out = tmp_path / "eval"
    result = cli("evaluate", "--weights", forced_weights, "--data", phantoms, "--out", out,
                 "--cache-dir", tmp_path / "cache", "--bootstrap", "300")  # fmt: skip
    assert result.code == 0, result.err
    assert "report.html" in result.out and "95% CI low" in result.out
    report = json.loads((out / "report.json").read_text())
    ci = report["confidence_intervals"]
    assert ci["n_resamples"] == 300 and ci["unit"] == "patient_id" and ci["n_units"] == 2
    assert report["ground_truth"]["fingerprint"].startswith("sha256:")
    n_images = len(json.loads(phantoms.read_text())["images"])
    per_image = json.loads((out / "per_image.json").read_text())["images"]
    assert len(per_image) == n_images
    assert len(list((out / "report_files").glob("*_thumb.jpg"))) == n_images
    if CHROMIUM is None:
        pytest.skip(NO_BROWSER)
    with Browser(CHROMIUM) as browser:
        page = browser.open((out / "report.html").as_uri())
        assert page.js("document.querySelectorAll('#gallery .card').length") == n_images
        assert page.all_images_load() == []
        assert page.errors() == []


def test_predict_writes_index_html(cli, phantoms: Path, forced_weights: Path, tmp_path: Path):
    out = tmp_path / "pred"
    result = cli("predict", "--weights", forced_weights, phantoms.parent / "images", "--out", out,
                 "--score-threshold", "0.5")  # fmt: skip
    assert result.code == 0, result.err
    text = (out / "index.html").read_text()
    # phantoms: phantom_00000_L_CC, phantom_00001_L_MLO, ... one study per file-name stem
    assert text.count("<section>") == 4 and text.count('<figure class="card"') == 4
    assert "score threshold" in text and "<td>0.5</td>" in text
    if CHROMIUM is None:
        pytest.skip(NO_BROWSER)
    with Browser(CHROMIUM) as browser:
        page = browser.open((out / "index.html").as_uri())
        assert page.js("document.querySelectorAll('img').length") == 4
        assert page.all_images_load() == []
        assert page.errors() == []
