"""Hard negatives for the box head: the RoI sampler takes part of its background RoIs from
the top of the RPN's ranking, which holds because proposals arrive sorted by objectness
(checked in test_inference_speedups.py, with the RPN's proposal filtering)."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.hard_negatives import HardNegativeSampler

# proposals in RPN order; 1 = matched to a lesion, 0 = background, -1 = ignored
LABELS = torch.tensor([0, -1, 0, 1, 0, 0, 1, 0, 0, 0])


def sample(sampler: HardNegativeSampler) -> tuple[list[int], list[int]]:
    (pos,), (neg,) = sampler([LABELS])
    return torch.nonzero(pos).flatten().tolist(), torch.nonzero(neg).flatten().tolist()


def test_the_first_negatives_in_rpn_order_are_always_taken_the_rest_at_random() -> None:
    # 6 RoIs, at most a quarter positive: 1 positive and 5 negatives of the 7; 3/5 of them
    # (3) are the first three negatives (proposals 0, 2, 4), 2 are drawn from 5, 7, 8, 9
    sampler = HardNegativeSampler(6, 0.25, hard_fraction=0.6)
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        pos, neg = sample(sampler)
        assert len(pos) == 1 and pos[0] in (3, 6)
        assert len(neg) == 5 and neg[:3] == [0, 2, 4]
        assert set(neg[3:]) <= {5, 7, 8, 9}
        seen.update(neg[3:])
    assert seen == {5, 7, 8, 9}  # the random part still reaches every other negative
    # 1: every negative from the top; 0: what torchvision's sampler draws, draw for draw
    assert sample(HardNegativeSampler(6, 0.25, hard_fraction=1.0))[1] == [0, 2, 4, 5, 7]
    from torchvision.models.detection._utils import BalancedPositiveNegativeSampler

    torch.manual_seed(1)
    ours = HardNegativeSampler(6, 0.25, hard_fraction=0.0)([LABELS])
    torch.manual_seed(1)
    theirs = BalancedPositiveNegativeSampler(6, 0.25)([LABELS])
    assert all(torch.equal(a, b) for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]))


def test_fewer_negatives_than_asked_are_all_taken() -> None:
    labels = torch.tensor([1, 0, 1, 0])
    (pos,), (neg,) = HardNegativeSampler(8, 0.5, hard_fraction=0.5)([labels])
    assert torch.nonzero(pos).flatten().tolist() == [0, 2]
    assert torch.nonzero(neg).flatten().tolist() == [1, 3]
    with pytest.raises(ValueError, match="hard_fraction"):
        HardNegativeSampler(8, 0.5, hard_fraction=1.5)


def test_the_config_puts_the_sampler_in_the_model_and_off_keeps_torchvisions() -> None:
    from torchvision.models.detection._utils import BalancedPositiveNegativeSampler

    from mammorcnn.errors import ConfigError

    config = tiny_config()
    assert config.box_head.hard_negative_fraction == 0.0
    sampler = build_model(config).roi_heads.fg_bg_sampler
    assert type(sampler) is BalancedPositiveNegativeSampler
    config.box_head.hard_negative_fraction = 0.5
    model = build_model(config).train()
    sampler = model.roi_heads.fg_bg_sampler
    assert isinstance(sampler, HardNegativeSampler) and sampler.hard_fraction == 0.5
    assert sampler.batch_size_per_image == config.box_head.batch_size_per_image
    # a training forward with it gives the usual finite losses
    masks = torch.zeros(1, 96, 96, dtype=torch.uint8)
    masks[0, 30:50, 40:60] = 1
    target = {
        "boxes": torch.tensor([[40.0, 30.0, 60.0, 50.0]]),
        "labels": torch.tensor([1]),
        "masks": masks,
    }
    losses = model([torch.rand(1, 96, 96)], [target])
    assert {"loss_classifier", "loss_box_reg", "loss_mask"} <= set(losses)
    assert all(bool(torch.isfinite(value)) for value in losses.values())
    config.box_head.hard_negative_fraction = 2.0
    with pytest.raises(ConfigError, match="hard_negative_fraction"):
        config.box_head.__post_init__()
