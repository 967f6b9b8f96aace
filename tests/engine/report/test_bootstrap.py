"""Bootstrap intervals over women: the weighted FROC equals froc(), and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from mammorcnn.engine.metrics import ImageDetections, ImageLesions, froc
from mammorcnn.engine.metrics.froc import lesion_scores
from mammorcnn.engine.metrics.matching import HitRule
from mammorcnn.engine.report.bootstrap import (
    FrocSamples,
    froc_intervals,
    paired_difference,
    percentile_interval,
    resample_weights,
    weighted_sensitivities,
)

RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


def _random_case(seed: int) -> tuple[list[ImageDetections], list[ImageLesions]]:
    rng = np.random.default_rng(seed)
    dets, lesions = [], []
    for _ in range(12):
        n_les = int(rng.integers(0, 3))
        xy = rng.uniform(0, 80, (n_les, 2))
        lesions.append(ImageLesions(np.hstack([xy, xy + 15])))
        n_det = int(rng.integers(0, 5))
        dxy = rng.uniform(0, 90, (n_det, 2))
        # scores on a coarse grid, so ties between images happen
        dets.append(ImageDetections(np.hstack([dxy, dxy + 10]), rng.integers(1, 6, n_det) / 5))
    return dets, lesions


def _samples(dets, lesions, units) -> FrocSamples:
    per = [lesion_scores([d], [g], HitRule()) for d, g in zip(dets, lesions)]
    return FrocSamples.from_images(units, [p[0] for p in per], [p[1] for p in per])


@pytest.mark.parametrize("seed", range(5))
def test_unit_weights_reproduce_froc(seed: int) -> None:
    dets, lesions = _random_case(seed)
    samples = _samples(dets, lesions, [i // 2 for i in range(len(dets))])
    got = weighted_sensitivities(samples, np.ones((1, samples.n_units)), RATES)[0]
    np.testing.assert_allclose(got, froc(dets, lesions, fp_rates=RATES).sensitivities)
    # a woman drawn twice is the same as her images listed twice
    twice = weighted_sensitivities(samples, np.r_[[2.0], np.ones(samples.n_units - 1)], RATES)
    dup = froc(dets + dets[:2], lesions + lesions[:2], fp_rates=RATES).sensitivities
    np.testing.assert_allclose(twice[0], dup)


def test_every_resample_the_same_gives_a_point_interval() -> None:
    # Every woman has one lesion found at 0.9 and one FP at 0.5: every resample has
    # sensitivity 1 at >= 1 FP/image and 0 below (the FP at 0.5 comes after the hit).
    samples = FrocSamples.from_images(range(6), [[0.9]] * 6, [[0.5]] * 6)
    ci = froc_intervals(samples, RATES, n_resamples=200, seed=3)
    assert ci["lower"] == ci["upper"] == [1.0] * 6
    assert ci["mean_sensitivity"] == {"lower": 1.0, "upper": 1.0}


def test_hand_computed_resamples_weigh_women_by_their_lesions() -> None:
    # Woman 0: two lesions, both found (two images); woman 1: one lesion, missed.
    samples = FrocSamples.from_images([0, 0, 1], [[0.8], [0.7], [None]], [[], [], []])
    # All three resamples of two women: {0,0} -> 4/4, {0,1} -> 2/3, {1,1} -> 0/2.
    weights = np.array([[2, 0], [1, 1], [0, 2]])
    sens = weighted_sensitivities(samples, weights, [1.0])[:, 0]
    np.testing.assert_allclose(sens, [1.0, 2 / 3, 0.0])
    # Drawn at random they come with probabilities 1/4, 1/2, 1/4.
    drawn = weighted_sensitivities(samples, resample_weights(2, 4000, seed=1), [1.0])[:, 0]
    freq = [np.mean(np.isclose(drawn, v)) for v in (1.0, 2 / 3, 0.0)]
    np.testing.assert_allclose(freq, [0.25, 0.5, 0.25], atol=0.03)  # > 4 standard errors
    assert percentile_interval(drawn) == (0.0, 1.0)
    assert np.median(drawn) == pytest.approx(2 / 3)


def test_fp_budget_decides_per_resample() -> None:
    # Woman 0: lesion found at 0.4 after an FP at 0.9 (one image). Woman 1: a normal image.
    samples = FrocSamples.from_images([0, 1], [[0.4], []], [[0.9], []])
    weights = np.array([[1, 1], [2, 0], [1, 3]])
    # FP rates of the point that finds the lesion: 1/2, 2/2 and 1/4 per image.
    sens = weighted_sensitivities(samples, weights, [0.25, 0.5, 1.0])
    np.testing.assert_allclose(sens, [[0, 1, 1], [0, 0, 1], [1, 1, 1]])
    # no lesion in the resample: undefined, left out of the interval
    assert np.isnan(weighted_sensitivities(samples, [[0, 2]], [1.0])[0, 0])
    assert percentile_interval(np.array([np.nan, np.nan])) is None


def test_paired_difference_known_answers() -> None:
    a = FrocSamples.from_images([0, 1], [[0.9], [0.8]], [[], []])
    b = FrocSamples.from_images([0, 1], [[0.9], [None]], [[], []])
    same = paired_difference(a, a, n_resamples=300)
    assert same == {"fp_rate": 1.0, "difference": 0.0, "lower": 0.0, "upper": 0.0}
    diff = paired_difference(a, b, n_resamples=2000, seed=5)
    # resamples {0,0}: 0, {0,1}: -1/2, {1,1}: -1
    assert diff["difference"] == -0.5
    assert (diff["lower"], diff["upper"]) == (-1.0, 0.0)
    other = FrocSamples.from_images([0, 1, 2], [[0.9], [0.8], []], [[], [], []])
    with pytest.raises(ValueError, match="same women"):
        paired_difference(a, other)


def test_resamples_are_seeded() -> None:
    np.testing.assert_array_equal(resample_weights(7, 5, seed=2), resample_weights(7, 5, seed=2))
    assert resample_weights(7, 5, seed=2).sum(axis=1).tolist() == [7] * 5
