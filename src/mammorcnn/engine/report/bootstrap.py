"""Bootstrap confidence intervals of FROC sensitivities, resampling women (docs/evaluation.md).

The images of one woman are not independent (two views of each breast, the same tissue), so
the resampling unit is the woman (``patient_id``), or the image when the ground truth has no
patient ids. A resample draws as many women as there are, with replacement; a woman drawn k
times counts k times in every sum: her images in the FP-per-image denominator, her lesions in
the sensitivity denominator, her marks in the numerators. The FROC of a resample is then the
weighted version of :func:`mammorcnn.engine.metrics.froc.froc` (same thresholds, same rule:
highest sensitivity with FP rate <= f, no interpolation), computed for many resamples at once.

Hand-written (no scipy.stats.bootstrap): the statistic is a ratio of weighted sums over a
threshold sweep, and the same resamples must be reused for paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
LEVEL = 0.95
# Resamples evaluated together: each (chunk, marks) float matrix stays within 40 MB.
_CHUNK_CELLS = 5_000_000


@dataclass(frozen=True)
class FrocSamples:
    """What the FROC of one evaluation needs, per resampling unit.

    ``lesion_unit``/``lesion_score``: unit of each lesion and its best hit's score (-inf when
    no mark hits it); ``fp_unit``/``fp_score``: unit and score of each mark that hits no lesion;
    ``images_per_unit``: how many images each unit has (normal images included).
    """

    lesion_unit: np.ndarray
    lesion_score: np.ndarray
    fp_unit: np.ndarray
    fp_score: np.ndarray
    images_per_unit: np.ndarray

    @property
    def n_units(self) -> int:
        return len(self.images_per_unit)

    @classmethod
    def from_images(
        cls,
        image_units: Sequence[int],
        lesion_scores: Sequence[Sequence[float]],
        fp_scores: Sequence[Sequence[float]],
        n_units: int | None = None,
    ) -> FrocSamples:
        """From per-image lists: the unit of image i, its lesions' best scores (-inf or None
        when missed) and its false positives' scores."""
        units = np.asarray(image_units, dtype=np.int64)
        n = int(units.max()) + 1 if n_units is None and len(units) else int(n_units or 0)

        def flat(per_image: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
            scores = [
                np.asarray([-np.inf if s is None else s for s in v], float) for v in per_image
            ]
            owner = [np.full(len(s), u, dtype=np.int64) for s, u in zip(scores, units)]
            return np.concatenate(owner + [np.empty(0, np.int64)]), np.concatenate(
                scores + [np.empty(0)]
            )

        lesion_unit, lesion_score = flat(lesion_scores)
        fp_unit, fp_score = flat(fp_scores)
        return cls(lesion_unit, lesion_score, fp_unit, fp_score, np.bincount(units, minlength=n))


def resample_weights(n_units: int, n_resamples: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n_resamples, n_units) counts: how often each unit is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples)


def weighted_sensitivities(
    samples: FrocSamples, weights: np.ndarray, fp_rates: Sequence[float]
) -> np.ndarray:
    """(B, len(fp_rates)) FROC sensitivity of each weighting (NaN when it has no lesion).

    With all weights 1 this is exactly ``froc(...).sensitivities``.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    found = np.isfinite(samples.lesion_score)
    scores = np.concatenate([samples.lesion_score[found], samples.fp_score])
    units = np.concatenate([samples.lesion_unit[found], samples.fp_unit])
    is_tp = np.concatenate([np.ones(found.sum()), np.zeros(len(samples.fp_score))])
    order = np.argsort(-scores, kind="stable")
    scores, units, is_tp = scores[order], units[order], is_tp[order]
    # Operating points sit after the last mark of each tie group of scores.
    ends = np.flatnonzero(np.append(np.diff(scores) != 0, True)) if len(scores) else []
    n_images = weights @ samples.images_per_unit
    n_lesions = weights @ np.bincount(samples.lesion_unit, minlength=samples.n_units)
    out = np.empty((len(weights), len(fp_rates)))
    chunk = max(1, _CHUNK_CELLS // max(1, len(scores)))
    for start in range(0, len(weights), chunk):
        w = weights[start : start + chunk]
        per_mark = w[:, units]
        # Prepend the empty operating point (0 FP, 0 found), as froc() does.
        zero = np.zeros((len(w), 1))
        tp = np.hstack([zero, np.cumsum(per_mark * is_tp, axis=1)[:, ends]])
        fp = np.hstack([zero, np.cumsum(per_mark * (1 - is_tp), axis=1)[:, ends]])
        rate = fp / n_images[start : start + chunk, None]
        rows = np.arange(len(w))
        for j, f in enumerate(fp_rates):
            # Both curves only grow along the sweep: the last point within budget is the best.
            last = (rate <= f + 1e-12).sum(axis=1) - 1
            out[start : start + len(w), j] = tp[rows, last]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_lesions[:, None] > 0, out / n_lesions[:, None], np.nan)


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """(lower, upper) percentile interval along axis 0, taking values resamples really gave
    (numpy's ``inverted_cdf``: no interpolation); None when every value is NaN."""
    kept = np.asarray(values, dtype=np.float64)
    kept = kept[np.isfinite(kept)]
    if len(kept) == 0:
        return None
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(kept, [tail, 1.0 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def froc_intervals(
    samples: FrocSamples,
    fp_rates: Sequence[float],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> dict:
    """95% intervals of the sensitivity at each FP rate and of their mean (JSON-safe)."""
    weights = resample_weights(samples.n_units, n_resamples, seed)
    sens = weighted_sensitivities(samples, weights, fp_rates)
    intervals = [percentile_interval(sens[:, j], level) for j in range(len(fp_rates))]
    mean = percentile_interval(sens.mean(axis=1), level) if len(fp_rates) else None
    return {
        "fp_rates": [float(f) for f in fp_rates],
        "lower": [None if i is None else i[0] for i in intervals],
        "upper": [None if i is None else i[1] for i in intervals],
        "mean_sensitivity": None if mean is None else {"lower": mean[0], "upper": mean[1]},
    }


def paired_difference(
    first: FrocSamples,
    other: FrocSamples,
    fp_rate: float = 1.0,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> dict:
    """Sensitivity at ``fp_rate`` of ``other`` minus ``first``: the estimate and its interval,
    with the same resampled women for both (a paired bootstrap: their shared difficulty
    cancels, so the interval is narrower than two independent ones suggest)."""
    if first.n_units != other.n_units or not np.array_equal(
        first.images_per_unit, other.images_per_unit
    ):
        raise ValueError("paired bootstrap needs the same women and images in both evaluations")
    ones = np.ones((1, first.n_units))
    estimate = (
        weighted_sensitivities(other, ones, [fp_rate])
        - weighted_sensitivities(first, ones, [fp_rate])
    )[0, 0]
    weights = resample_weights(first.n_units, n_resamples, seed)
    diff = (
        weighted_sensitivities(other, weights, [fp_rate])
        - weighted_sensitivities(first, weights, [fp_rate])
    )[:, 0]
    interval = percentile_interval(diff, level)
    return {
        "fp_rate": float(fp_rate),
        "difference": None if np.isnan(estimate) else float(estimate),
        "lower": None if interval is None else interval[0],
        "upper": None if interval is None else interval[1],
    }
