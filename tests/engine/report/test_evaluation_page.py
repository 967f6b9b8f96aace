"""report.html: content checked in Python, behaviour checked in headless Chromium."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammorcnn.engine.metrics import evaluate_predictions
from mammorcnn.engine.report.evaluation_page import write_evaluation_page

sys.path.insert(0, str(Path(__file__).parent))
from browser import Browser, find_chromium  # noqa: E402

CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium) for page tests"
)


def build(gt: dict, preds: list[dict], image_root: Path, out: Path) -> Path:
    report = evaluate_predictions(gt, preds, out_dir=out, per_image=True, n_resamples=200)
    return write_evaluation_page(out, report, gt, preds, image_root, [("data", "gt.json")])


def test_page_content(case, tmp_path) -> None:
    gt, preds = case
    page = build(gt, preds, tmp_path, tmp_path / "eval").read_text()
    assert page.count('<figure class="card"') == 4
    assert page.count('loading="lazy"') == 4
    assert "http://" not in page and "https://" not in page  # offline: no CDN, no fonts
    assert "Content-Security-Policy" in page and "sha256-" in page
    thumbs = sorted((tmp_path / "eval" / "report_files").iterdir())
    assert len(thumbs) == 8
    full = Image.open(tmp_path / "eval" / "report_files" / "00000.jpg")
    assert full.size == (80, 64)  # the original image's geometry
    # the missed lesion [50:60) x [30:40) of a.png is outlined in yellow, the found one in blue
    rgb = np.asarray(full).astype(int)
    r, g, b = rgb[35, 50]  # yellow (240, 228, 66), blurred by JPEG's chroma subsampling
    assert min(r, g) - b > 40
    b_png = np.asarray(Image.open(tmp_path / "eval" / "report_files" / "00001.jpg")).astype(int)
    r, g, b = b_png[39, 30]  # found lesion's contour in sky blue (86, 180, 233)
    assert b - r > 30
    c_png = np.asarray(Image.open(tmp_path / "eval" / "report_files" / "00002.jpg")).astype(int)
    r, g, b = c_png[45, 49]  # false positive in vermillion (213, 94, 0)
    assert r - b > 100
    assert "95% interval" in page and "200 resamples" in page


def test_hostile_names_are_text(case, tmp_path) -> None:
    gt, preds = case
    root = tmp_path / "imgs"
    hostile = [
        "<script>window.pwned=1</script>.png",
        "\"'><img src=x onerror=window.pwned=2>.png",
        "../outside.png",
    ]
    for name, image in zip(hostile, gt["images"]):
        src = tmp_path / image["file_name"]
        dest = root / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
        image["file_name"] = name
    gt["images"][3]["file_name"] = "<b>gone</b>.png"  # missing: a card without a picture
    gt["images"][0]["patient_id"] = "<script>window.pwned=3</script>"
    gt["categories"][0]["name"] = "<img src=y onerror=window.pwned=4>"
    gt["annotations"][0]["pathology"] = "</table><script>window.pwned=5</script>"
    out = tmp_path / "eval"
    text = build(gt, preds, root, out).read_text()
    assert "<script>window" not in text and "<img src=x" not in text and "<b>gone" not in text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;.png" in text
    assert all(p.parent == out / "report_files" for p in (out / "report_files").iterdir())
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium) to run the page")
    with Browser(CHROMIUM) as browser:
        page = browser.open((out / "report.html").as_uri())
        assert page.js("window.pwned === undefined")
        names = page.js("[...document.querySelectorAll('.card .name')].map(e => e.textContent)")
        assert sorted(names) == sorted([*hostile, "<b>gone</b>.png"])
        assert page.errors() == []
        assert page.all_images_load() == []


@needs_browser
def test_page_in_chromium(case, tmp_path) -> None:
    gt, preds = case
    # put the image with the missed lesion last in file order, so sorting has to move it
    gt["images"].append(gt["images"].pop(0))
    path = build(gt, preds, tmp_path, tmp_path / "eval")
    with Browser(CHROMIUM) as browser:
        page = browser.open(path.as_uri())
        assert page.js("document.querySelectorAll('#gallery .card').length") == 4
        assert page.all_images_load() == []
        assert page.js("document.querySelector('#gallery .card .name').textContent") == "a.png"
        sort = (
            "(() => { const s = document.getElementById('sort'); s.value = '%s';"
            " s.dispatchEvent(new Event('change'));"
            " const c = document.querySelector('#gallery .card:not([hidden])');"
            " return [c.querySelector('.name').textContent, c.dataset.missed]; })()"
        )
        assert page.js(sort % "order") == ["b.png", "0"]  # file order: a.png is last
        assert page.js(sort % "missed") == ["a.png", "1"]
        fp_first = page.js(
            "(() => { const s = document.getElementById('sort'); s.value = 'fp';"
            " s.dispatchEvent(new Event('change'));"
            " return document.querySelector('#gallery .card .name').textContent; })()"
        )
        assert fp_first == "c.png"  # its FP scores 0.95
        shown = page.js(
            "(() => { const s = document.getElementById('show'); s.value = 'normal';"
            " s.dispatchEvent(new Event('change'));"
            " return [...document.querySelectorAll('#gallery .card:not([hidden]) .name')]"
            ".map(e => e.textContent); })()"
        )
        assert shown == ["c.png"]
        shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L"))
        assert shot.std() > 10 and len(np.unique(shot)) > 20  # not a blank page
        assert page.errors() == []
        # the sort can be chosen in the address (default: missed lesions first)
        page2 = browser.open(path.as_uri() + "#sort=order")
        name = page2.js("document.querySelector('#gallery .card .name').textContent")
        assert name == "b.png"
        assert page2.errors() == []


def test_extra_frocs_table_escapes_category_names() -> None:
    from mammorcnn.engine.report.evaluation_page import more_froc_html

    froc = {"fp_rates": [0.5, 1.0], "sensitivities": [0.25, 0.5], "mean_sensitivity": 0.375,
            "n_lesions": 4}  # fmt: skip
    assert more_froc_html({"froc": froc}) == ""  # nothing more than the main FROC
    report = {
        "froc": froc,
        "froc_per_category": {"<b>mass</b>": {**froc, "sensitivities": [0.0, 1.0],
                                              "mean_sensitivity": 0.5, "n_lesions": 2}},
        "froc_without_other_findings": {**froc, "n_images_left_out": 3},
    }  # fmt: skip
    html = more_froc_html(report)
    assert "<b>mass</b>" not in html and "category &lt;b&gt;mass&lt;/b&gt; alone" in html
    assert "<th>0.5 FP</th><th>1 FP</th><th>mean</th><th>lesions</th>" in html
    assert "<td>0.000</td><td>1.000</td><td>0.500</td><td>2</td>" in html
    assert "without the 3 image(s) whose only findings are of other types" in html
    assert "<td>0.250</td><td>0.500</td><td>0.375</td><td>4</td>" in html
