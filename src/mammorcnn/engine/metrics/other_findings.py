"""FROC without the images whose only findings are of unselected types.

Converters mark such images ``has_other_findings`` (docs/data.md): with the default
``--lesion-types mass`` an image holding only a distortion has no lesion in the ground truth,
so a detection on the distortion counts as a false positive there. The main FROC keeps these
images (every image of the test set counts, as in screening); this second FROC leaves them out,
so that a reader sees how much of the false-positive rate they carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mammorcnn.engine.metrics.froc import DEFAULT_FP_RATES, FrocResult, froc_of_coco
from mammorcnn.engine.metrics.matching import HitRule
from mammorcnn.engine.metrics.report import REPORT_FILE, write_report

OTHER_FINDINGS = "has_other_findings"  # the image field the converters write
REPORT_KEY = "froc_without_other_findings"


def other_findings_only(gt_coco: dict) -> set[int]:
    """Ids of the images with ``has_other_findings`` and no annotation (not normal images)."""
    positive = {a.get("image_id") for a in gt_coco.get("annotations", [])}
    return {
        img["id"]
        for img in gt_coco.get("images", [])
        if img.get(OTHER_FINDINGS) and img["id"] not in positive
    }


def froc_without_other_findings(
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    source: str = "ground truth",
) -> tuple[FrocResult, int] | None:
    """(FROC over the other images, how many were left out); None when there are none."""
    left_out = other_findings_only(gt_coco)
    if not left_out or len(left_out) == len(gt_coco["images"]):
        return None
    kept = {**gt_coco, "images": [i for i in gt_coco["images"] if i["id"] not in left_out]}
    mine = [p for p in predictions if not isinstance(p, dict) or p.get("image_id") not in left_out]
    return froc_of_coco(kept, mine, hit_rule, fp_rates, source), len(left_out)


def add_other_findings_froc(
    report: dict,
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule,
    out_dir: Path | None = None,
) -> str | None:
    """Add :data:`REPORT_KEY` to ``report`` (and to ``out_dir``/report.json when given) and
    return its lines for the terminal; None (report unchanged) when no image is marked."""
    found = froc_without_other_findings(gt_coco, predictions, hit_rule, report["froc"]["fp_rates"])
    if found is None:
        return None
    result, n_left_out = found
    report[REPORT_KEY] = {**result.to_dict(), "n_images_left_out": n_left_out}
    if out_dir is not None and (Path(out_dir) / REPORT_FILE).is_file():
        write_report(report, out_dir)
    cells = "".join(f"{s:7.3f}" if s == s else "    n/a" for s in result.sensitivities)
    mean = result.mean_sensitivity
    return (
        f"\nFROC without the {n_left_out} image(s) whose only findings are of other types "
        f"({OTHER_FINDINGS}; {result.n_images} images left)\n"
        f"  sensitivity {cells}{mean:7.3f}"
    )
