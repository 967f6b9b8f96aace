"""`mammorcnn compare`: several evaluations of one ground truth side by side.

A table of FROC sensitivities with their intervals, one FROC plot, compare.html, and for each
report after the first the paired bootstrap of its sensitivity at 1 FP/image minus the first's
and the lesions found by one and not the other (docs/evaluation.md). Reports must carry the
same ground-truth fingerprint: numbers computed on different images or lesions cannot be
compared, so that is an error naming both files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.metrics.plots import _png
from mammorcnn.engine.report.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_difference
from mammorcnn.engine.report.html import esc, meta_table, num, page, table
from mammorcnn.engine.report.lesion_pairs import LesionPairs, pair_lesions
from mammorcnn.engine.report.review import PER_IMAGE_FILE, samples_of
from mammorcnn.errors import InputError

REPORT_FILE = "report.json"
PAGE_FILE = "compare.html"
PLOT_FILE = "compare_froc.png"
RESULT_FILE = "compare.json"
DIFF_FP_RATE = 1.0


@dataclass
class Evaluation:
    """One evaluation: where it came from, its report.json, and its per-image records."""

    label: str
    path: Path
    report: dict
    records: list[dict] | None


def load_evaluation(arg: str | Path) -> Evaluation:
    """A report.json, a folder holding one (evaluate --out), or a demo folder (eval/)."""
    given = Path(arg)
    candidates = [given] if given.is_file() else [given / REPORT_FILE, given / "eval" / REPORT_FILE]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise InputError(given, f"no {REPORT_FILE} there (give an evaluate --out folder or file)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read the report ({error})") from None
    if not isinstance(report, dict) or not isinstance(report.get("froc"), dict):
        raise InputError(path, "not a mammorcnn evaluation report")
    records = None
    if (path.parent / PER_IMAGE_FILE).is_file():
        try:
            records = json.loads((path.parent / PER_IMAGE_FILE).read_text("utf-8"))["images"]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(path.parent / PER_IMAGE_FILE, "unreadable per-image file") from None
    return Evaluation(str(arg), path, report, records)


def _fingerprint(ev: Evaluation) -> str:
    fingerprint = (ev.report.get("ground_truth") or {}).get("fingerprint")
    if not fingerprint:
        raise InputError(
            ev.path, "has no ground-truth fingerprint (made by an older mammorcnn); re-run evaluate"
        )
    return str(fingerprint)


def check_same_ground_truth(evaluations: Sequence[Evaluation]) -> None:
    """Raise naming the files when two reports were made on different ground truth."""
    first = _fingerprint(evaluations[0])
    for ev in evaluations[1:]:
        if _fingerprint(ev) != first:
            raise InputError(
                ev.path,
                f"made on different ground truth than {evaluations[0].path} "
                f"({_fingerprint(ev)[:19]}... vs {first[:19]}...); compare needs the same images "
                "and lesions",
            )


def compare(
    evaluations: Sequence[Evaluation],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict:
    """One row per report (sensitivities, intervals, mean) and the paired differences."""
    if len(evaluations) < 2:
        raise InputError(None, "compare needs at least two reports")
    check_same_ground_truth(evaluations)
    first = evaluations[0]
    rows = []
    for ev in evaluations:
        f = ev.report["froc"]
        ci = (ev.report.get("confidence_intervals") or {}).get("froc") or {}
        diff = lesions = None
        if ev is not first and first.records is not None and ev.records is not None:
            diff = paired_difference(samples_of(first.records), samples_of(ev.records),
                                     DIFF_FP_RATE, n_resamples, seed)  # fmt: skip
            lesions = asdict(pair_lesions(first.records, ev.records))
        rows.append({
            "label": ev.label,
            "report": str(ev.path),
            "fp_rates": f["fp_rates"],
            "sensitivities": f["sensitivities"],
            "lower": ci.get("lower"),
            "upper": ci.get("upper"),
            "mean_sensitivity": f["mean_sensitivity"],
            "difference_vs_first": diff,
            "lesions_vs_first": lesions,
            "scoring": ev.report.get("scoring"),
        })  # fmt: skip
    return {
        "fingerprint": _fingerprint(first),
        "n_images": first.report.get("n_images"),
        "n_lesions": first.report.get("n_lesions"),
        "n_women": first.report.get("n_women"),
        "paired_bootstrap": {"fp_rate": DIFF_FP_RATE, "n_resamples": n_resamples, "seed": seed},
        "rows": rows,
    }


def format_compare(result: dict) -> str:
    """The comparison as a terminal table."""
    rates = result["rows"][0]["fp_rates"]
    head = "report" + "".join(f"{r:>7g}" for r in rates) + "   mean   diff@1 (95% CI)"
    lines = [head]
    for k, row in enumerate(result["rows"], start=1):
        d = row["difference_vs_first"]
        diff = "  (reference)" if k == 1 else "  n/a (no per_image.json)"
        if d is not None:
            diff = f"{num(d['difference']):>8} ({num(d['lower'])} to {num(d['upper'])})"
        cells = "".join(f"{num(s):>7}" for s in row["sensitivities"])
        lines.append(f"{k:>6}{cells}{num(row['mean_sensitivity']):>7}{diff}")
    lines += [f"{k:>6}: {row['label']}" for k, row in enumerate(result["rows"], start=1)]
    b = result["paired_bootstrap"]
    lines.append(f"diff@1: sensitivity at 1 FP/image minus the first report's; paired bootstrap "
                 f"over women, {b['n_resamples']} resamples, seed {b['seed']}")  # fmt: skip
    for k, row in enumerate(result["rows"][1:], start=2):
        if row["lesions_vs_first"] is not None:
            lines.append(f"lesions, {k} vs 1: " + lesion_pairs_text(row["lesions_vs_first"], k))
    return "\n".join(lines + scoring_notes(result["rows"]))


def scoring_notes(rows: list[dict]) -> list[str]:
    """Lines saying where the reports' scores were made differently (their ``scoring``:
    flips, nested rule, rank decay, ...), or that a report does not say, when another does.
    A difference may be the point of the comparison; the note keeps it from passing unseen."""
    from mammorcnn.engine.metrics.operating_point import describe_scoring, scoring_differences

    known = [row.get("scoring") for row in rows]
    if all(scoring is None for scoring in known):
        return []
    first, notes = known[0], []
    for k, scoring in enumerate(known[1:], start=2):
        if scoring is None or first is None:
            which = k if scoring is None else 1
            notes.append(f"scoring: report {which} does not record how its scores were made")
            continue
        differ = scoring_differences(first, scoring)
        if differ:
            pairs = ", ".join(
                f"{describe_scoring(key, now)} vs {then}" for key, then, now in differ
            )
            notes.append(f"scoring, {k} vs 1: {pairs}")
    return list(dict.fromkeys(notes))


def lesion_pairs_text(pairs: dict, k: int) -> str:
    """One line: the four outcomes, the discordant lesions by name, McNemar's p."""
    p = LesionPairs(**pairs)

    def named(names: list[str]) -> str:
        return f" ({', '.join(names)})" if names else ""

    return (
        f"found by both {p.both}, only by 1 {p.only_first}{named(p.only_first_lesions)}, "
        f"only by {k} {p.only_other}{named(p.only_other_lesions)}, by neither {p.neither}; "
        f"exact McNemar p = {p.p_value:.3g} (each at its own 1 FP/image point)"
    )


def froc_plot(evaluations: Sequence[Evaluation]) -> bytes:
    """All FROC curves (report.json's corners draw the exact step curves) on one log2 axis."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    rates = [r for r in evaluations[0].report["froc"]["fp_rates"] if r > 0] or [1.0]
    left, right = min(rates) / 2, max(rates) * 2
    for ev in evaluations:
        curve = ev.report["froc"]["curve"]
        fp = np.clip(np.append(curve["fp_per_image"], right), left, right)
        sens = [np.nan if s is None else s for s in curve["sensitivity"]]
        ax.step(fp, np.append(sens, sens[-1]), where="post", lw=1.6, label=ev.label[-40:])
    ax.set_xscale("log", base=2)
    ax.set_xlim(left, right)
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("sensitivity")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def write_compare(out_dir: Path, evaluations: Sequence[Evaluation], result: dict) -> Path:
    """compare.html, compare_froc.png and compare.json in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / PLOT_FILE, froc_plot(evaluations))
    text = json.dumps(result, indent=1, allow_nan=False) + "\n"
    atomic_write_bytes(out / RESULT_FILE, text.encode("utf-8"))
    rates = result["rows"][0]["fp_rates"]
    rows = []
    for row in result["rows"]:
        lower, upper = row["lower"] or [None] * len(rates), row["upper"] or [None] * len(rates)
        d = row["difference_vs_first"]
        rows.append([
            f"<span class='l'>{esc(row['label'])}</span>",
            *(f"{num(s)}<br><span class='small'>{num(lo)} - {num(hi)}</span>"
              for s, lo, hi in zip(row["sensitivities"], lower, upper)),
            num(row["mean_sensitivity"]),
            "first" if row is result["rows"][0] else "n/a" if d is None
            else f"{num(d['difference'])}<br><span class='small'>{num(d['lower'])} - "
                 f"{num(d['upper'])}</span>",
        ])  # fmt: skip
    b = result["paired_bootstrap"]
    info = meta_table([
        ("images", result["n_images"]), ("lesions", result["n_lesions"]),
        ("women", result["n_women"] if result["n_women"] is not None else "unknown"),
        ("ground-truth fingerprint", result["fingerprint"]),
    ])  # fmt: skip
    body = (
        "<h1>mammorcnn comparison</h1>" + info + "<h2>FROC sensitivity (95% interval)</h2>"
        + table(["report", *(f"{r:g} FP" for r in rates), "mean", "difference at 1 FP"], rows)
        + f"<p class='small'>Difference: sensitivity at 1 FP/image minus the first report's, "
        f"with a paired percentile bootstrap over women ({b['n_resamples']} resamples, seed "
        f"{b['seed']}; docs/evaluation.md).</p>"
        + "".join(f"<p>Lesions, {k} ({esc(row['label'])}) vs 1: "
                  f"{esc(lesion_pairs_text(row['lesions_vs_first'], k))}</p>"
                  for k, row in enumerate(result["rows"][1:], start=2)
                  if row["lesions_vs_first"] is not None)
        + "".join(f"<p>{esc(note)}</p>" for note in scoring_notes(result["rows"]))
        + f"<div class='plots'><img src='{PLOT_FILE}' alt='FROC curves'></div>"
    )  # fmt: skip
    atomic_write_bytes(out / PAGE_FILE, page("mammorcnn comparison", body).encode("utf-8"))
    return out / PAGE_FILE
