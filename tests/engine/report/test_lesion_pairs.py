"""Lesion-by-lesion pairing of two evaluations against hand-counted outcomes and exact p."""

from __future__ import annotations

import pytest

from mammorcnn.engine.report.lesion_pairs import pair_lesions
from mammorcnn.errors import InputError


def _records(found: list[list[bool]]) -> list[dict]:
    """Per-image records: image i holds one lesion per entry of found[i]."""
    return [
        {"id": i + 1, "file_name": f"images/mdb{i + 1:03d}.png",
         "lesions": [{"found": f, "best_score": 0.5} for f in lesions]}
        for i, lesions in enumerate(found)
    ]  # fmt: skip


def test_counts_names_and_exact_mcnemar() -> None:
    # 11 single-lesion images: 9 found only by the other model, 2 only by the first.
    first = _records([[False]] * 9 + [[True]] * 2 + [[True], [False]])
    other = _records([[True]] * 9 + [[False]] * 2 + [[True], [False]])
    pairs = pair_lesions(first, other)
    assert (pairs.both, pairs.only_first, pairs.only_other, pairs.neither) == (1, 2, 9, 1)
    assert pairs.only_first_lesions == ["mdb010", "mdb011"]
    assert pairs.only_other_lesions == [f"mdb{i:03d}" for i in range(1, 10)]
    # two-sided exact binomial: 2 * P(X <= 2 | n = 11, 1/2) = 2 * (1 + 11 + 55) / 2048
    assert pairs.p_value == pytest.approx(2 * 67 / 2048)


def test_several_lesions_in_one_image_are_numbered() -> None:
    first = _records([[True, False]])
    other = _records([[True, True]])
    pairs = pair_lesions(first, other)
    assert pairs.only_other_lesions == ["mdb001#2"] and pairs.both == 1
    assert pairs.p_value == pytest.approx(1.0)  # 1 discordant: 2 * 1/2, capped at 1


def test_no_discordant_lesion_gives_p_one_and_mismatch_is_refused() -> None:
    same = _records([[True], [False]])
    pairs = pair_lesions(same, same)
    assert (pairs.both, pairs.neither, pairs.p_value) == (1, 1, 1.0)
    with pytest.raises(InputError, match="different lesions"):
        pair_lesions(same, _records([[True]]))
