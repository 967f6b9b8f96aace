"""The figures of a cross-validation: per fold, pooled, and the mean and spread over folds, as
JSON (summary.json), a terminal table and a Markdown table.

The Markdown table (summary.md) exists so that a table in a paper or in docs/results.md is
copied from the run that made it instead of typed by hand.
"""

from __future__ import annotations

import statistics


def _figures(report: dict) -> dict:
    coco = report.get("coco") or {}

    def ap(kind: str, key: str) -> float | None:
        metrics = coco.get(kind) or {}
        return metrics.get(key)

    return {
        "n_images": report["n_images"],
        "n_lesions": report["n_lesions"],
        "sensitivities": report["froc"]["sensitivities"],
        "mean_sensitivity": report["froc"]["mean_sensitivity"],
        "box_ap": ap("bbox", "AP"),
        "mask_ap": ap("segm", "AP"),
        "mean_dice": report["dice"]["mean_dice"],
    }


def _spread(values: list[float | None]) -> dict:
    """Mean and sample standard deviation over the folds that have a value."""
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(present) if len(present) > 1 else 0.0
    return {"mean": statistics.fmean(present), "std": std, "n": len(present)}


def summarise(reports: list[dict], pooled: dict) -> dict:
    """Per-fold figures, the pooled report's, and the mean and spread over folds."""
    folds = [_figures(r) for r in reports]
    rates = pooled["froc"]["fp_rates"]
    over = {
        f"sens@{rate:g}": _spread([f["sensitivities"][i] for f in folds])
        for i, rate in enumerate(rates)
    }
    for key in ("mean_sensitivity", "box_ap", "mask_ap", "mean_dice"):
        over[key] = _spread([f[key] for f in folds])
    summary = {"fp_rates": rates, "folds": folds, "pooled": _figures(pooled), "over_folds": over}
    if pooled.get("froc_without_other_findings"):
        summary["pooled_without_other_findings"] = pooled["froc_without_other_findings"]
    if pooled.get("confidence_intervals"):
        summary["pooled_confidence_intervals"] = pooled["confidence_intervals"]
    return summary


def _over_keys(rates: list[float]) -> list[str]:
    return [f"sens@{r:g}" for r in rates] + ["mean_sensitivity", "box_ap", "mask_ap", "mean_dice"]


def _values(figures: dict) -> list[float | None]:
    return [
        *figures["sensitivities"],
        figures["mean_sensitivity"],
        figures["box_ap"],
        figures["mask_ap"],
        figures["mean_dice"],
    ]


def format_summary(summary: dict) -> str:
    """Per fold, pooled and mean +- sd as a terminal table."""
    rates = summary["fp_rates"]

    def cell(v: float | None) -> str:
        return "  n/a " if v is None else f"{v:6.3f}"

    head = "              " + "".join(f"{r:>7g}" for r in rates) + "   mean  boxAP maskAP  Dice"
    lines = ["FROC sensitivity at FP/image", head]
    rows = [(f"fold {k}", f) for k, f in enumerate(summary["folds"])]
    rows.append(("pooled", summary["pooled"]))
    for name, f in rows:
        lines.append(
            f"{name:<12} "
            + " ".join(cell(v) for v in _values(f))
            + f"  ({f['n_lesions']} lesions, {f['n_images']} images)"
        )
    over = summary["over_folds"]
    keys = _over_keys(rates)
    lines.append("mean of folds " + " ".join(cell(over[k]["mean"]) for k in keys))
    lines.append("sd of folds   " + " ".join(cell(over[k]["std"]) for k in keys))
    ci = summary.get("pooled_confidence_intervals")
    if ci:
        froc_ci = ci["froc"]
        lines.append("pooled 95% CI " + " ".join(cell(v) for v in froc_ci["lower"]))
        lines.append("              " + " ".join(cell(v) for v in froc_ci["upper"]))
        lines.append(f"  (bootstrap over {ci['n_units']} women, {ci['n_resamples']} resamples)")
    other = summary.get("pooled_without_other_findings")
    if other:
        lines.append(
            f"pooled without the {other['n_images_left_out']} images with only other findings "
            + " ".join(cell(v) for v in other["sensitivities"])
        )
    return "\n".join(lines)


def format_summary_markdown(summary: dict, title: str = "") -> str:
    """Per fold, pooled (bold), its 95% interval, and the mean and sd of the folds as one
    Markdown table; sensitivities at 3 decimals, Dice at 2, n/a where a fold has no value."""
    rates = summary["fp_rates"]

    def cell(v: float | None, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    def cells(values: list[float | None]) -> list[str]:
        return [cell(v) for v in values[:-1]] + [cell(values[-1], 2)]

    def row(parts: list[str]) -> str:
        return "| " + " | ".join(parts) + " |"

    def count(f: dict) -> str:
        return f"{f['n_lesions']} / {f['n_images']}"

    head = [*(f"{r:g}" for r in rates), "mean", "box AP", "mask AP", "Dice", "masses / images"]
    lines = [f"FROC sensitivity at false positives per image, {title}", ""] if title else []
    lines += [row(["", *head]), "|" + "---|" * (len(head) + 1)]
    for k, f in enumerate(summary["folds"]):
        lines.append(row([f"fold {k}", *cells(_values(f)), count(f)]))
    pooled = summary["pooled"]
    bold = [f"**{c}**" for c in ["pooled", *cells(_values(pooled))]]
    lines.append(row([*bold, count(pooled)]))
    ci = summary.get("pooled_confidence_intervals")
    if ci:
        low, high = ci["froc"]["lower"], ci["froc"]["upper"]
        spans = [f"{cell(a)}-{cell(b)}" for a, b in zip(low, high)]
        lines.append(row(["pooled 95% CI", *spans, *[""] * 5]))
    over = summary["over_folds"]
    keys = _over_keys(rates)
    lines.append(row(["mean of folds", *cells([over[k]["mean"] for k in keys]), ""]))
    lines.append(row(["sd of folds", *cells([over[k]["std"] for k in keys]), ""]))
    if ci:
        lines += [
            "",
            f"95% CI: percentile bootstrap over {ci['n_units']} women, "
            f"{ci['n_resamples']} resamples.",
        ]
    return "\n".join(lines) + "\n"
