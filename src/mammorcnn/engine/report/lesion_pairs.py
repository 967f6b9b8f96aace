"""Which lesions two evaluations of one ground truth found, paired lesion by lesion.

Why: the paired bootstrap says how far the sensitivity at 1 FP/image moved; the pairs say which
lesions moved and whether more changed one way than chance allows. On a small set only a
handful of lesions change between two models, so the exact McNemar test (a two-sided binomial
test of the discordant lesions, scipy's ``binomtest``) is the right one, not its chi-squared
approximation. "Found" is each evaluation's own: a mark on the lesion at its per_image.json
operating point (1 FP/image, the point evaluate writes), so each model is judged at the same
false-positive rate rather than at the same raw score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from scipy.stats import binomtest

from mammorcnn.errors import InputError


@dataclass(frozen=True)
class LesionPairs:
    """Counts of the four outcomes, the discordant lesions by name, and McNemar's p."""

    both: int
    only_first: int
    only_other: int
    neither: int
    only_first_lesions: list[str]
    only_other_lesions: list[str]
    p_value: float


def lesion_outcomes(records: Sequence[dict]) -> dict[tuple[int, int], tuple[str, bool]]:
    """(image id, lesion index) -> (a readable name, found) from per-image records.

    The name is the image file's stem, with ``#k`` added when its image holds several lesions.
    """
    outcomes = {}
    for record in records:
        stem = PurePath(str(record.get("file_name") or record["id"])).stem
        lesions = record["lesions"]
        for k, lesion in enumerate(lesions):
            name = stem if len(lesions) == 1 else f"{stem}#{k + 1}"
            outcomes[(record["id"], k)] = (name, bool(lesion["found"]))
    return outcomes


def pair_lesions(first: Sequence[dict], other: Sequence[dict]) -> LesionPairs:
    """Pair the lesions of two evaluations' per-image records (same ground truth)."""
    a, b = lesion_outcomes(first), lesion_outcomes(other)
    if a.keys() != b.keys():
        raise InputError(None, "the per-image records list different lesions; cannot pair them")
    only_first = sorted(name for key, (name, found) in a.items() if found and not b[key][1])
    only_other = sorted(name for key, (name, found) in b.items() if found and not a[key][1])
    both = sum(found and b[key][1] for key, (_, found) in a.items())
    discordant = len(only_first) + len(only_other)
    p_value = (
        binomtest(min(len(only_first), len(only_other)), discordant, 0.5).pvalue
        if discordant
        else 1.0
    )
    return LesionPairs(
        both=both,
        only_first=len(only_first),
        only_other=len(only_other),
        neither=len(a) - both - discordant,
        only_first_lesions=only_first,
        only_other_lesions=only_other,
        p_value=float(p_value),
    )
