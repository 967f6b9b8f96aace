"""Each category's FROC alone, beside the class-agnostic one, for a file of several categories.

Why: the main FROC scores every category's lesions against every mark (docs/evaluation.md),
so on a file of masses, distortions and asymmetries it is none of the figures papers report.
`evaluate --category NAME` gives one type's whole report; this adds every type's FROC to the
report of a run without it, so that a reader who did not know the option still sees the masses'
sensitivity. Each figure is exactly the main FROC of `--category NAME` (metrics/category.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mammorcnn.engine.metrics.category import one_category
from mammorcnn.engine.metrics.froc import DEFAULT_FP_RATES, FrocResult, froc_of_coco
from mammorcnn.engine.metrics.matching import HitRule
from mammorcnn.engine.metrics.report import REPORT_FILE, write_report

REPORT_KEY = "froc_per_category"


def froc_per_category(
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    source: str = "ground truth",
) -> dict[str, FrocResult]:
    """{category name: its FROC alone}, in category id order; {} for fewer than two."""
    categories = sorted(
        (c for c in gt_coco.get("categories") or [] if isinstance(c, dict)),
        key=lambda c: c.get("id"),
    )
    if len(categories) < 2:
        return {}
    out: dict[str, FrocResult] = {}
    for category in categories:
        name = str(category.get("name"))
        gt, kept = one_category(gt_coco, predictions, name, source)
        out[name] = froc_of_coco(gt, kept, hit_rule, fp_rates, source)
    return out


def add_per_category_froc(
    report: dict,
    gt_coco: dict,
    predictions: Sequence[dict],
    hit_rule: HitRule,
    out_dir: Path | None = None,
    source: str = "ground truth",
) -> str | None:
    """Add :data:`REPORT_KEY` to ``report`` (and to ``out_dir``/report.json when given) and
    return its lines for the terminal; None (report unchanged) for a file of one category."""
    found = froc_per_category(gt_coco, predictions, hit_rule, report["froc"]["fp_rates"], source)
    if not found:
        return None
    report[REPORT_KEY] = {name: result.to_dict() for name, result in found.items()}
    if out_dir is not None and (Path(out_dir) / REPORT_FILE).is_file():
        write_report(report, out_dir)
    width = max(12, *(len(name) for name in found))
    rates = "".join(f"{r:>7g}" for r in report["froc"]["fp_rates"])
    lines = [
        "\nFROC of each category alone (its lesions against its marks; --category NAME gives "
        "one category's whole report)",
        f"  {'':<{width}}{rates}   mean  lesions",
    ]
    for name, result in found.items():
        cells = "".join(f"{s:7.3f}" if s == s else "    n/a" for s in result.sensitivities)
        lines.append(f"  {name:<{width}}{cells}{result.mean_sensitivity:7.3f}{result.n_lesions:9d}")
    return "\n".join(lines)
