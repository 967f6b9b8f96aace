"""Region proposal network with the specification's 2-class softmax objectness.

Specification: docs/architecture.md §3.

torchvision's ``RPNHead`` predicts one sigmoid logit per anchor; the specification asks for a
classification conv of ``2 x anchors`` channels (background/object softmax per anchor), so the
head and the loss are hand-written here. Everything else is torchvision's
``RegionProposalNetwork``: anchor matching (``Matcher`` with low-quality matches = each GT's
best anchor), the balanced 256-anchor sampler, box coding, and proposal filtering (top-k per
level, ``batched_nms`` per level, top-N per image). Proposal ranking uses ``logit_obj -
logit_bg``, whose sigmoid is exactly the softmax probability of "object".
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import (
    RegionProposalNetwork,
    concat_box_prediction_layers,
)
from torchvision.ops.misc import Conv2dNormActivation

from mammorcnn.model.anchors import PyramidAnchorGenerator
from mammorcnn.model.config import RPNConfig


class UndecodedProposals(NamedTuple):
    """Box deltas (N * M, 4) and anchors (per image, (M, 4)) not yet decoded into boxes."""

    deltas: Tensor
    anchors: list[Tensor]


class SoftmaxRPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 convs: ``2A`` class logits and ``4A`` box deltas per location.

    Channel ``2a + c`` is class ``c`` (0 = background, 1 = object) of anchor ``a``; channel
    ``4a + j`` is delta ``j`` of anchor ``a``. Parameter names follow torchvision's ``RPNHead``
    (``conv.0.0``, ``cls_logits``, ``bbox_pred``) so COCO checkpoints load where shapes fit.
    """

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.conv = nn.Sequential(
            Conv2dNormActivation(in_channels, in_channels, kernel_size=3, norm_layer=None)
        )
        self.cls_logits = nn.Conv2d(in_channels, 2 * num_anchors, kernel_size=1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, kernel_size=1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.constant_(layer.bias, 0.0)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, deltas = [], []
        for feature in features:
            t = self.conv(feature)
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


def rpn_loss(
    class_logits: Tensor,
    pred_deltas: Tensor,
    labels: Tensor,
    regression_targets: Tensor,
    sampled_pos: Tensor,
    sampled_neg: Tensor,
    beta: float,
) -> tuple[Tensor, Tensor]:
    """Objectness cross-entropy (softmax over 2 classes) + smooth L1 on sampled positives.

    Both terms are normalised by the number of sampled anchors (positives + negatives), as in
    torchvision/Detectron; ``class_logits`` is (num_anchors, 2), the rest are flat per anchor.
    """
    sampled = torch.cat([sampled_pos, sampled_neg])
    objectness = F.cross_entropy(class_logits[sampled], labels[sampled].long())
    box = F.smooth_l1_loss(
        pred_deltas[sampled_pos], regression_targets[sampled_pos], beta=beta, reduction="sum"
    ) / max(sampled.numel(), 1)
    return objectness, box


class SoftmaxRPN(RegionProposalNetwork):
    """torchvision's RPN driven by a :class:`SoftmaxRPNHead` and its cross-entropy loss."""

    def __init__(
        self, anchor_generator: PyramidAnchorGenerator, head: SoftmaxRPNHead, cfg: RPNConfig
    ) -> None:
        super().__init__(
            anchor_generator,
            head,
            fg_iou_thresh=cfg.fg_iou_thresh,
            bg_iou_thresh=cfg.bg_iou_thresh,
            batch_size_per_image=cfg.batch_size_per_image,
            positive_fraction=cfg.positive_fraction,
            pre_nms_top_n={"training": cfg.pre_nms_top_n_train, "testing": cfg.pre_nms_top_n_test},
            post_nms_top_n={
                "training": cfg.post_nms_top_n_train,
                "testing": cfg.post_nms_top_n_test,
            },
            nms_thresh=cfg.nms_thresh,
            score_thresh=cfg.score_thresh,
        )
        # Matcher semantics: IoU >= fg positive, < bg negative, between ignored (-1), and with
        # allow_low_quality_matches each GT's best anchor(s) become positive too.
        self.proposal_matcher = det_utils.Matcher(
            cfg.fg_iou_thresh, cfg.bg_iou_thresh, allow_low_quality_matches=cfg.best_anchor_positive
        )
        self.smooth_l1_beta = cfg.smooth_l1_beta
        # The proposal counts are read from the config on every call, so changing them
        # (``MaskRCNN.set_test_proposals``) changes the config and the model together.
        self.config = cfg

    def pre_nms_top_n(self) -> int:
        """Proposals kept per level before NMS (``rpn.pre_nms_top_n_train/test``)."""
        c = self.config
        return c.pre_nms_top_n_train if self.training else c.pre_nms_top_n_test

    def post_nms_top_n(self) -> int:
        """Proposals kept per image after NMS (``rpn.post_nms_top_n_train/test``)."""
        c = self.config
        return c.post_nms_top_n_train if self.training else c.post_nms_top_n_test

    def filter_proposals(
        self,
        proposals: Tensor | UndecodedProposals,
        objectness: Tensor,
        image_shapes: list[tuple[int, int]],
        num_anchors_per_level: list[int],
    ) -> tuple[list[Tensor], list[Tensor]]:
        """torchvision's ``filter_proposals``; given :class:`UndecodedProposals`, it decodes
        only the anchors its per-level top-k keeps.

        torchvision decodes every anchor (1.3 M at 1024 px with 15 anchors per location) and
        then keeps at most ``pre_nms_top_n`` per level by score. The top-k does not depend on
        the boxes, so selecting first and decoding the <= 5 x 1000 kept anchors gives the same
        proposals; torchvision's code then runs on the selection (its own top-k keeps all of
        it) for clipping, small-box removal, NMS per level and the top-N per image.
        """
        if isinstance(proposals, Tensor):
            return super().filter_proposals(
                proposals, objectness, image_shapes, num_anchors_per_level
            )
        num_images = len(proposals.anchors)
        scores = objectness.detach().reshape(num_images, -1)
        top = self._get_top_n_idx(scores, num_anchors_per_level)  # (N, K), level-major
        deltas = proposals.deltas.detach().reshape(num_images, -1, 4)
        chosen_deltas = torch.stack([d[t] for d, t in zip(deltas, top)])
        chosen_anchors = torch.stack([a[t] for a, t in zip(proposals.anchors, top)])
        decoded = self.box_coder.decode_single(
            chosen_deltas.reshape(-1, 4), chosen_anchors.reshape(-1, 4)
        ).reshape(num_images, -1, 4)
        kept_per_level = [min(self.pre_nms_top_n(), n) for n in num_anchors_per_level]
        return super().filter_proposals(
            decoded, torch.gather(scores, 1, top), image_shapes, kept_per_level
        )

    def forward(
        self,
        images: ImageList,
        features: dict[str, Tensor],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """Proposals per image (and in training the two RPN losses); uses all levels P2..P6."""
        feature_list = list(features.values())
        logits, deltas = self.head(feature_list)
        anchors = self.anchor_generator(images, feature_list)
        num_anchors_per_level = [lg[0].numel() // 2 for lg in logits]
        class_logits, pred_deltas = concat_box_prediction_layers(logits, deltas)  # (N*M, 2)
        objectness = class_logits[:, 1] - class_logits[:, 0]  # sigmoid(.) = softmax[:, 1]
        boxes, _scores = self.filter_proposals(
            UndecodedProposals(pred_deltas, anchors),
            objectness,
            images.image_sizes,
            num_anchors_per_level,
        )
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("targets are required in training mode")
            labels, matched_gt_boxes = self.assign_targets_to_anchors(anchors, targets)
            regression_targets = self.box_coder.encode(matched_gt_boxes, anchors)
            pos, neg = self.fg_bg_sampler(labels)
            pos_idx = torch.where(torch.cat(pos))[0]
            neg_idx = torch.where(torch.cat(neg))[0]
            loss_obj, loss_box = rpn_loss(
                class_logits,
                pred_deltas,
                torch.cat(labels),
                torch.cat(regression_targets),
                pos_idx,
                neg_idx,
                self.smooth_l1_beta,
            )
            losses = {"loss_objectness": loss_obj, "loss_rpn_box_reg": loss_box}
        return boxes, losses
