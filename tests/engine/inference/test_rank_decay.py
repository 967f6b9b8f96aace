"""Rank decay against hand-computed scores: the k-th best of a class times decay**k."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.engine.inference.rank_decay import check_decay, decay_by_rank
from mammorcnn.errors import ConfigError
from mammorcnn.model.config import BoxHeadConfig


def test_each_class_ranked_on_its_own_in_the_input_order() -> None:
    scores = torch.tensor([0.5, 0.9, 0.8, 0.3])
    labels = torch.tensor([1, 1, 2, 1])
    # class 1: 0.9 first (x1), 0.5 second (x0.5), 0.3 third (x0.25); class 2: 0.8 first
    expected = torch.tensor([0.25, 0.9, 0.8, 0.075])
    assert torch.allclose(decay_by_rank(scores, labels, 0.5), expected)


def test_ties_keep_the_model_order_and_best_first_stays_best_first() -> None:
    tied = decay_by_rank(torch.tensor([0.6, 0.6]), torch.tensor([1, 1]), 0.5)
    assert tied.tolist() == pytest.approx([0.6, 0.3])
    scores = torch.sort(torch.rand(50), descending=True).values
    decayed = decay_by_rank(scores, torch.ones(50, dtype=torch.long), 0.7)
    assert torch.all(decayed[:-1] >= decayed[1:])  # the order of an image's marks is kept
    assert decayed[0] == scores[0]
    assert torch.allclose(decayed, scores * 0.7 ** torch.arange(50.0))


def test_one_and_empty_change_nothing() -> None:
    scores = torch.tensor([0.2, 0.7])
    assert torch.equal(decay_by_rank(scores, torch.tensor([1, 1]), 1.0), scores)
    empty = torch.zeros(0)
    assert decay_by_rank(empty, torch.zeros(0, dtype=torch.long), 0.5).numel() == 0


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_a_decay_outside_zero_to_one_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ConfigError, match="--rank-decay"):
        check_decay(bad, "--rank-decay")
    with pytest.raises(ConfigError, match="model.box_head.rank_decay"):
        BoxHeadConfig(rank_decay=bad)
