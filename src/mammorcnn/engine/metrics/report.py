"""The `evaluate` report: FROC, COCO mAP and Dice from a ground truth and COCO results.

Everything starts from COCO results (image_id, category_id, bbox xywh, score, RLE
segmentation), the format `predict` writes, so a saved results JSON can be re-evaluated
without the model.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.metrics.coco_map import coco_map
from mammorcnn.engine.metrics.cocoio import (
    clean_predictions,
    group_predictions,
    image_sizes,
    load_ground_truth,
)
from mammorcnn.engine.metrics.dice import lesion_dice
from mammorcnn.engine.metrics.froc import DEFAULT_FP_RATES, froc
from mammorcnn.engine.metrics.matching import HitRule
from mammorcnn.engine.metrics.plots import froc_png, pr_png
from mammorcnn.engine.report.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, LEVEL, froc_intervals
from mammorcnn.engine.report.review import (
    PER_IMAGE_FILE,
    ground_truth_fingerprint,
    image_units,
    review_images,
    samples_of,
    write_per_image,
)

logger = logging.getLogger(__name__)

REPORT_FILE = "report.json"
FROC_PLOT = "froc.png"
PR_PLOT = "pr_curve.png"
# Dice is measured at the score threshold of this FROC operating point unless one is given:
# the same point the trainer uses to pick the best checkpoint.
DICE_FP_RATE = 1.0


def evaluate_predictions(
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule | str = "center",
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    out_dir: Path | None = None,
    dice_score_threshold: float | None = None,
    gt_source: str = "ground truth",
    predictions_source: str = "predictions",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    per_image: bool = False,
    scoring: dict | None = None,
) -> dict:
    """FROC + COCO mAP (bbox, segm) + per-lesion Dice as one JSON-safe dict, with bootstrap
    intervals of the FROC over women (``n_resamples``, ``seed``) and a ground-truth fingerprint.

    With ``out_dir``, also writes report.json, froc.png and pr_curve.png there (atomically),
    and with ``per_image`` per_image.json: what happened on each image, the input of the HTML
    review and of `mammorcnn compare`. ``*_source`` name the inputs in errors (file paths).
    ``scoring`` (operating_point.scoring_settings: how the scores were made) is recorded as
    the report's ``scoring``, which predict --operating-point checks its own run against.
    """
    rule = HitRule.parse(hit_rule) if isinstance(hit_rule, str) else hit_rule
    image_ids, lesions, gt = load_ground_truth(gt_coco, gt_source)
    predictions = clean_predictions(predictions, image_sizes(gt), predictions_source)
    by_image = group_predictions(predictions, image_ids)
    detections = [by_image[i] for i in image_ids]
    froc_result = froc(detections, lesions, rule, fp_rates)
    if dice_score_threshold is None:
        dice_score_threshold = froc_result.threshold_at(DICE_FP_RATE)
    dice = lesion_dice(detections, lesions, rule, dice_score_threshold)
    coco = {t: coco_map(gt, predictions, t) for t in ("bbox", "segm")}
    threshold = froc_result.threshold_at(DICE_FP_RATE)
    records = review_images(gt, detections, lesions, rule, threshold, dice)
    _, unit, n_women = image_units(gt["images"])
    intervals = froc_intervals(samples_of(records), fp_rates, n_resamples, seed)
    fingerprint = ground_truth_fingerprint(gt_coco)
    report = {
        "n_images": len(image_ids),
        "n_women": n_women,
        "n_lesions": froc_result.n_lesions,
        "n_predictions": froc_result.n_predictions,
        "hit_rule": {**rule.to_dict(), "description": rule.describe()},
        "froc": froc_result.to_dict(),
        "dice": {**dice.to_dict(), "operating_point_fp_per_image": DICE_FP_RATE},
        "coco": {t: (m.to_dict() if m else None) for t, m in coco.items()},
        "confidence_intervals": {
            "method": "percentile bootstrap over women (docs/evaluation.md)",
            "unit": unit,
            "n_units": len({r["unit"] for r in records}),
            "n_resamples": n_resamples,
            "seed": seed,
            "level": LEVEL,
            "froc": intervals,
        },
        "ground_truth": {"source": gt_source, "fingerprint": fingerprint},
    }
    if scoring is not None:
        report["scoring"] = scoring
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report["files"] = {"report": REPORT_FILE, "froc_plot": FROC_PLOT, "pr_plot": PR_PLOT}
        atomic_write_bytes(out / FROC_PLOT, froc_png(froc_result, f"FROC, {rule.describe()}"))
        atomic_write_bytes(out / PR_PLOT, pr_png(coco))
        if per_image:
            report["files"]["per_image"] = PER_IMAGE_FILE
            write_per_image(out / PER_IMAGE_FILE, records, fingerprint, DICE_FP_RATE, threshold)
        write_report(report, out)
        logger.info("wrote %s, %s and %s in %s", REPORT_FILE, FROC_PLOT, PR_PLOT, out)
    return report


def write_report(report: dict, out_dir: Path) -> None:
    """``out_dir``/report.json, atomically (also for the FROCs added after the main one)."""
    payload = json.dumps(report, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(Path(out_dir) / REPORT_FILE, payload.encode("utf-8"))


def _fmt(value: float | None, width: int = 7) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a".rjust(width)
    return f"{value:.3f}".rjust(width)


def _interval_lines(ci: dict | None) -> list[str]:
    """The 95% interval rows under the FROC table, and how they were made."""
    if not ci:
        return []
    froc_ci, mean = ci["froc"], ci["froc"]["mean_sensitivity"] or {}
    return [
        "  95% CI low  " + "".join(_fmt(v) for v in froc_ci["lower"]) + _fmt(mean.get("lower")),
        "  95% CI high " + "".join(_fmt(v) for v in froc_ci["upper"]) + _fmt(mean.get("upper")),
        f"  (bootstrap over {ci['n_units']} {'women' if ci['unit'] == 'patient_id' else 'images'}"
        f", {ci['n_resamples']} resamples, seed {ci['seed']})",
    ]


def format_report(report: dict) -> str:
    """The report as a plain-text table for the terminal."""
    f = report["froc"]
    women = report.get("n_women")
    lines = [
        f"{report['n_images']} images{'' if women is None else f' of {women} women'}, "
        f"{report['n_lesions']} lesions, "
        f"{report['n_predictions']} predictions; hit rule: {report['hit_rule']['description']}",
        "",
        "FROC          " + "".join(f"{r:>7g}" for r in f["fp_rates"]) + "   mean",
        "  sensitivity " + "".join(_fmt(s) for s in f["sensitivities"])
        + _fmt(f["mean_sensitivity"]),
        *_interval_lines(report.get("confidence_intervals")),
        "",
        "COCO        AP   AP50   AP75    APs    APm    APl  AR100",
    ]  # fmt: skip
    for iou_type, stats in report["coco"].items():
        keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
        cells = "".join(_fmt(stats[k]) for k in keys) if stats else "    not evaluated"
        lines.append(f"  {iou_type:<6}{cells}")
    d = report["dice"]
    threshold = "n/a" if d["score_threshold"] is None else f"{d['score_threshold']:.3f}"
    lines += [
        "",
        f"Dice of detected lesions (score >= {threshold}; {d['n_detected']} of "
        f"{d['n_lesions_with_mask']} lesions with masks detected)",
        f"  Dice mean {_fmt(d['mean_dice'], 0)}  median {_fmt(d['median_dice'], 0)}   "
        f"IoU mean {_fmt(d['mean_iou'], 0)}  median {_fmt(d['median_iou'], 0)}",
    ]
    return "\n".join(lines)
