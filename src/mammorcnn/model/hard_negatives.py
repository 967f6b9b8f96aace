"""RoI sampling that spends part of the negatives on the proposals the RPN is surest of.

torchvision's ``BalancedPositiveNegativeSampler`` draws a head's background RoIs at random
from all proposals below the IoU threshold. On a mammogram crop most proposals are plain
tissue the head already rejects; the few that look like a mass (dense tissue, the pectoral
muscle's edge), the false positives a reader sees, are drawn rarely: 48 random negatives of
500 proposals include a given one about a tenth of the time. This sampler takes a fixed share
of the negatives from the top of the RPN's ranking instead, in the spirit of the hard negative
mining of SSD (Liu et al., 2016) and OHEM (Shrivastava et al., 2016), but without their extra
forward pass: the proposals already arrive sorted by objectness (torchvision's
``filter_proposals`` keeps ``batched_nms``'s order, highest score first, as
tests/model/test_inference_speedups.py checks), so the first negatives in proposal order are
the hardest by the RPN's account. The rest are random as before, so the head still sees
ordinary tissue.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler


class HardNegativeSampler(BalancedPositiveNegativeSampler):
    """``BalancedPositiveNegativeSampler`` whose negatives are ``hard_fraction`` (rounded)
    the first ones in proposal order and the rest drawn at random from the others."""

    def __init__(
        self, batch_size_per_image: int, positive_fraction: float, hard_fraction: float
    ) -> None:
        super().__init__(batch_size_per_image, positive_fraction)
        if not 0 <= hard_fraction <= 1:
            raise ValueError(f"hard_fraction must be in [0, 1], got {hard_fraction}")
        self.hard_fraction = hard_fraction

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per image, uint8 masks over its proposals: the sampled positives and negatives
        (labels >= 1 are positive, 0 negative, -1 ignored), as torchvision's sampler returns."""
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            positive = torch.where(labels >= 1)[0]
            negative = torch.where(labels == 0)[0]  # ascending: the RPN's ranking
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            num_hard = round(num_neg * self.hard_fraction)
            chosen_pos = positive[torch.randperm(positive.numel(), device=labels.device)[:num_pos]]
            others = negative[num_hard:]
            random_pick = torch.randperm(others.numel(), device=labels.device)[: num_neg - num_hard]
            chosen_neg = torch.cat([negative[:num_hard], others[random_pick]])
            pos_mask = torch.zeros_like(labels, dtype=torch.uint8)
            neg_mask = torch.zeros_like(labels, dtype=torch.uint8)
            pos_mask[chosen_pos] = 1
            neg_mask[chosen_neg] = 1
            pos_masks.append(pos_mask)
            neg_masks.append(neg_mask)
        return pos_masks, neg_masks
