"""report.html of `mammorcnn evaluate`: the summary, its intervals, and a gallery of every image.

The page is one HTML file beside report.json; its pictures are files in ``report_files/``
named by image position only (never by an input name), plus froc.png and pr_curve.png. It
opens offline in any browser. docs/evaluation.md describes what each part shows.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from mammorcnn import __version__
from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.metrics.cocoio import (
    clean_predictions,
    group_predictions,
    image_sizes,
    load_ground_truth,
)
from mammorcnn.engine.report import gallery
from mammorcnn.engine.report.draw import FULL_SIDE, LEGEND, THUMB_SIDE, render_review, write_jpeg
from mammorcnn.engine.report.html import esc, meta_table, num, page, table
from mammorcnn.engine.report.review import PER_IMAGE_FILE
from mammorcnn.errors import MammoError

log = logging.getLogger(__name__)

PAGE_FILE = "report.html"
FILES_DIR = "report_files"


def summary_html(report: dict, sources: Sequence[tuple[str, object]]) -> str:
    """Counts, sources, FROC with intervals, COCO mAP, Dice/IoU and the two plots."""
    ci = report.get("confidence_intervals") or {}
    women = report.get("n_women")
    counts = [
        ("images", report["n_images"]),
        ("women", "unknown (no patient_id): intervals resample images" if women is None else women),
        ("lesions", report["n_lesions"]),
        ("predictions", report["n_predictions"]),
        ("hit rule", report["hit_rule"]["description"]),
        *sources,
        ("ground-truth fingerprint", (report.get("ground_truth") or {}).get("fingerprint")),
        ("mammorcnn version", __version__),
    ]
    f, cif = report["froc"], ci.get("froc") or {}
    lower, upper = cif.get("lower") or [None] * len(f["fp_rates"]), cif.get("upper") or []
    rows = [
        [f"{r:g}", num(s), f"{num(lo)} - {num(hi)}", num(t)]
        for r, s, lo, hi, t in zip(f["fp_rates"], f["sensitivities"], lower, upper or lower, f["thresholds"])
    ]  # fmt: skip
    mean = cif.get("mean_sensitivity") or {}
    rows.append(["mean", num(f["mean_sensitivity"]), f"{num(mean.get('lower'))} - "
                 f"{num(mean.get('upper'))}", ""])  # fmt: skip
    how = (
        f"95% intervals: percentile bootstrap over {ci['n_units']} "
        f"{'women' if ci['unit'] == 'patient_id' else 'images'}, {ci['n_resamples']} "
        f"resamples, seed {ci['seed']} (docs/evaluation.md)."
        if ci
        else "No intervals in this report."
    )
    keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
    coco = [[esc(t), *(num(m[k]) if m else "n/a" for k in keys)] for t, m in report["coco"].items()]
    d = report["dice"]
    dice = [[num(d["mean_dice"]), num(d["median_dice"]), num(d["mean_iou"]),
             num(d["median_iou"]), f"{d['n_detected']} of {d['n_lesions_with_mask']}",
             num(d["score_threshold"])]]  # fmt: skip
    return (
        f"<h2>Summary</h2>{meta_table(counts)}"
        "<h2>FROC</h2>"
        + table(["FP per image", "sensitivity", "95% interval", "score threshold"], rows)
        + f"<p class='small'>{esc(how)}</p>"
        "<div class='plots'><img src='froc.png' alt='FROC curve'>"
        "<img src='pr_curve.png' alt='precision-recall curves'></div>"
        + more_froc_html(report)
        + "<h2>COCO mAP</h2>"
        + table(["", *keys], coco)
        + "<h2>Dice and IoU of found lesions</h2>"
        + table(
            ["mean Dice", "median Dice", "mean IoU", "median IoU", "lesions found", "at score >="],
            dice,
        )  # fmt: skip
    )


def more_froc_html(report: dict) -> str:
    """The report's extra FROCs, when it has them: each category alone (a file of several;
    metrics/per_category.py) and without the other-findings-only images (metrics/
    other_findings.py). Category names come from the annotation file: escaped."""
    rates = report["froc"]["fp_rates"]
    rows = []
    for name, f in (report.get("froc_per_category") or {}).items():
        rows.append([f"category {esc(name)} alone", *map(num, f["sensitivities"]),
                     num(f["mean_sensitivity"]), str(int(f["n_lesions"]))])  # fmt: skip
    f = report.get("froc_without_other_findings")
    if f:
        rows.append([f"without the {int(f['n_images_left_out'])} image(s) whose only findings "
                     "are of other types", *map(num, f["sensitivities"]),
                     num(f["mean_sensitivity"]), str(int(f["n_lesions"]))])  # fmt: skip
    if not rows:
        return ""
    return "<h2>FROC of parts of the set</h2>" + table(
        ["", *(f"{r:g} FP" for r in rates), "mean", "lesions"], rows
    )


def legend_html() -> str:
    spans = "".join(
        f"<span><i class='sw' style='background:rgb{rgb}'></i>{esc(text)}</span>"
        for _, text, rgb in LEGEND
    )
    return f"<div class='legend'>{spans}</div>"


def write_evaluation_page(
    out_dir: Path,
    report: dict,
    gt_coco: dict,
    predictions: Sequence[dict],
    image_root: Path,
    sources: Sequence[tuple[str, object]] = (),
    progress: bool = False,
) -> Path:
    """Write report.html and its pictures into ``out_dir`` (which holds report.json,
    per_image.json and the plots from ``evaluate_predictions(..., per_image=True)``).

    Images are read from ``image_root`` / file_name; one that cannot be read gets a card
    without a picture and a warning, never a failure (the numbers are already written).
    """
    from tqdm import tqdm

    from mammorcnn.data import read_image
    from mammorcnn.data.coco import resolve_image_path

    out = Path(out_dir)
    records = json.loads((out / PER_IMAGE_FILE).read_text(encoding="utf-8"))["images"]
    image_ids, lesions, gt = load_ground_truth(gt_coco)
    clean = clean_predictions(predictions, image_sizes(gt))
    by_image = group_predictions(clean, image_ids)
    files = out / FILES_DIR
    shutil.rmtree(files, ignore_errors=True)  # pictures of an earlier run of another set
    files.mkdir(parents=True, exist_ok=True)
    cards = []
    for k, record in enumerate(tqdm(records, desc="report.html", disable=not progress)):
        det, les = by_image[record["id"]], lesions[k]
        thumb, full = f"{FILES_DIR}/{k:05d}_thumb.jpg", f"{FILES_DIR}/{k:05d}.jpg"
        try:
            path = resolve_image_path(record["file_name"], image_root)
            pixels = read_image(path).pixels
        except MammoError as error:
            log.warning("report.html: no picture for image %s: %s", record["id"], error)
            cards.append(gallery.card(record, k, None, None, None, str(error)))
            continue
        size = write_jpeg(render_review(pixels, les, det, record, THUMB_SIDE, False), out / thumb)
        write_jpeg(render_review(pixels, les, det, record, FULL_SIDE), out / full)
        cards.append(gallery.card(record, k, thumb, full, size))
    body = (
        "<h1>mammorcnn evaluation</h1>" + summary_html(report, sources)
        + f"<h2>Images</h2><p class='small'>Marks shown at the 1-FP-per-image operating point "
        f"(score >= {num(report['dice']['score_threshold'])}). Click a picture for the full "
        "size in the original image's geometry.</p>"
        + legend_html() + gallery.controls() + gallery.gallery(cards)
    )  # fmt: skip
    html_text = page("mammorcnn evaluation report", body, gallery.SCRIPT)
    atomic_write_bytes(out / PAGE_FILE, html_text.encode("utf-8"))
    return out / PAGE_FILE
