"""The score threshold of an FROC operating point, read from an evaluation's report.json.

Why: a reader wants the marks of a known false-positive rate ("about one false mark per
image"), not of a raw score. The rate belongs to the data it was measured on, so predict takes
the threshold that an evaluation of the same model (or a cross-validation of its recipe)
found for that rate, instead of a fixed 0.5 that means a different rate for every model.
A threshold holds only for scores made the same way, so reports record the score-changing
inference settings (``scoring``) and predict refuses a report measured with others.
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


# The inference settings that change a detection's score, with the value each means when a
# predictions file's settings leave it out (dataset_run.run_settings writes only what is on).
SCORING_DEFAULTS: dict[str, object] = {
    "test_time_flip": False,
    "test_time_scales": [1.0],
    "nested_thresh": None,
    "rank_decay": 1.0,
    "pectoral_weight": 0.0,
    "contralateral": None,
    "ensemble_members": 0,
    "score_calibration": False,
}


def scoring_settings(settings: dict) -> dict:
    """The score-changing part of a predictions file's ``settings``, every key present.

    Why: a threshold is a point on one score scale. Flips and scales average views, the
    nested rule, the rank decay and the pectoral rule remove or lower marks, the contralateral rule lowers
    scores and an ensemble averages models, so a threshold measured with one of them means
    another false-positive rate without it. Ensembles count by members: the report of a
    cross-validation and the final model are different weights of one recipe by design.
    """
    scoring = {key: settings.get(key, default) for key, default in SCORING_DEFAULTS.items()}
    scoring["ensemble_members"] = len(settings.get("ensemble") or [])
    return scoring


def scoring_of_files(settings_by_file: dict) -> dict | None:
    """The shared :func:`scoring_settings` of several predictions files' settings (as
    predictions_file.read_settings gives them); None when they differ or none has any."""
    found = [scoring_settings(settings) for settings in settings_by_file.values()]
    if not found or any(scoring != found[0] for scoring in found[1:]):
        return None
    return found[0]


def describe_scoring(key: str, value: object) -> str:
    """One setting as a reader would name it in an error."""
    names = {
        "test_time_flip": "test-time flip",
        "test_time_scales": "test-time scales",
        "nested_thresh": "nested threshold",
        "rank_decay": "rank decay",
        "pectoral_weight": "pectoral weight",
        "contralateral": "contralateral rule",
        "ensemble_members": "ensemble members",
        "score_calibration": "score calibration",
    }
    return f"{names.get(key, key)} {value if value is not None else 'off'}"


def scoring_differences(measured: dict, used: dict) -> list[tuple[str, object, object]]:
    """(key, measured value, used value) of each score-changing setting on which two
    :func:`scoring_settings` differ, a missing key read as its default."""
    pairs = [(key, measured.get(key, d), used.get(key, d)) for key, d in SCORING_DEFAULTS.items()]
    return [(key, then, now) for key, then, now in pairs if then != now]


def check_report_scoring(path: Path, used: dict) -> bool:
    """Refuse (InputError naming the report) a report whose FROC was measured with other
    score-changing settings than ``used`` (:func:`scoring_settings` of this run). A report
    written before reports recorded them cannot be checked: False (the caller warns)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # threshold_from_report has named the problem already
    measured = report.get("scoring") if isinstance(report, dict) else None
    if not isinstance(measured, dict):
        return False
    differ = scoring_differences(measured, used)
    if differ:
        then = ", ".join(describe_scoring(key, value) for key, value, _ in differ)
        now = ", ".join(describe_scoring(key, value) for key, _, value in differ)
        raise InputError(
            path,
            f"its thresholds were measured with {then}; this run has {now} (give the same "
            "options, or use a report evaluated with these)",
        )
    return True
