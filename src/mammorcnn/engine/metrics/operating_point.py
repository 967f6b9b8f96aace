"""The score threshold of an FROC operating point, read from an evaluation's report.json.

Why: a reader wants the marks of a known false-positive rate ("about one false mark per
image"), not of a raw score. The rate belongs to the data it was measured on, so predict takes
the threshold that an evaluation of the same model (or a cross-validation of its recipe)
found for that rate, instead of a fixed 0.5 that means a different rate for every model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mammorcnn.errors import InputError

# FP rates are stored as floats in report.json; a requested rate matches a listed one within this.
RATE_TOLERANCE = 1e-9


def threshold_from_report(path: Path, fp_per_image: float) -> float:
    """The lowest score threshold whose false positives per image stayed <= ``fp_per_image``
    in the evaluation that wrote ``path`` (its ``froc.thresholds``). The rate must be one the
    report lists: between them the report keeps only the curve's corners."""
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "no such report file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the report ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"not JSON ({err.msg} at line {err.lineno})") from None
    froc = report.get("froc") if isinstance(report, dict) else None
    rates = froc.get("fp_rates") if isinstance(froc, dict) else None
    thresholds = froc.get("thresholds") if isinstance(froc, dict) else None
    if not isinstance(rates, list) or not isinstance(thresholds, list):
        raise InputError(
            path,
            "not an evaluation report (no froc.fp_rates and froc.thresholds; "
            "`mammorcnn evaluate` and `crossval` write report.json)",
        )
    if len(rates) != len(thresholds):
        raise InputError(path, "froc.fp_rates and froc.thresholds differ in length")
    matches = [
        i
        for i, rate in enumerate(rates)
        if isinstance(rate, (int, float)) and abs(rate - fp_per_image) <= RATE_TOLERANCE
    ]
    if not matches:
        listed = ", ".join(f"{r:g}" for r in rates if isinstance(r, (int, float)))
        raise InputError(path, f"no operating point at {fp_per_image:g} FP/image (it has {listed})")
    threshold = thresholds[matches[0]]
    if threshold is None:  # stored as null: even the top-scored detection was a false positive
        raise InputError(
            path,
            f"no threshold keeps {fp_per_image:g} FP/image there (even the "
            "best-scored detection was a false positive); choose a higher --fp-per-image",
        )
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise InputError(path, f"froc threshold at {fp_per_image:g} FP/image is {threshold!r}")
    return float(threshold)
