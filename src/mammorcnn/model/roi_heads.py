"""Second stage: RoI sampling, detection head, mask head, their losses and inference.

Subclasses torchvision's ``RoIHeads`` to reuse proposal matching (IoU 0.5), the balanced
RoI sampler, box coding and per-class NMS post-processing. ``forward`` is rewritten because
the specification's heads differ (4C deltas, 14x14 masks without deconvolution, smooth L1 with
beta 1) and because box-only annotations (``mask_valid`` False) must give no mask loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads

from mammorcnn.model.box_head import box_head_loss, with_background_deltas
from mammorcnn.model.hard_negatives import HardNegativeSampler
from mammorcnn.model.mask_head import mask_loss, mask_targets
from mammorcnn.model.nested import not_nested


class SpecRoIHeads(RoIHeads):
    """Box + mask branches on P2..P5 RoI features (see ``build.py`` for the parts)."""

    def __init__(
        self,
        *,
        box_roi_pool: nn.Module,
        box_head: nn.Module,
        box_predictor: nn.Module,
        mask_roi_pool: nn.Module,
        mask_head: nn.Module,
        mask_predictor: nn.Module,
        fg_iou_thresh: float,
        bg_iou_thresh: float,
        batch_size_per_image: int,
        positive_fraction: float,
        bbox_reg_weights: tuple[float, float, float, float],
        score_thresh: float,
        nms_thresh: float,
        detections_per_img: int,
        box_smooth_l1_beta: float,
        mask_target_threshold: float,
        nested_thresh: float | None = None,
        hard_negative_fraction: float = 0.0,
    ) -> None:
        """Keyword-only: eleven of these are numbers, and a swapped pair would build a model."""
        super().__init__(
            box_roi_pool=box_roi_pool,
            box_head=box_head,
            box_predictor=box_predictor,
            fg_iou_thresh=fg_iou_thresh,
            bg_iou_thresh=bg_iou_thresh,
            batch_size_per_image=batch_size_per_image,
            positive_fraction=positive_fraction,
            bbox_reg_weights=bbox_reg_weights,
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
            mask_roi_pool=mask_roi_pool,
            mask_head=mask_head,
            mask_predictor=mask_predictor,
        )
        self.box_smooth_l1_beta = box_smooth_l1_beta
        self.mask_target_threshold = mask_target_threshold
        # Drop detections nested in a higher-scoring one (model/nested.py); None: NMS only.
        self.nested_thresh = nested_thresh
        if hard_negative_fraction > 0:  # 0 keeps torchvision's sampler (and its random draws)
            self.fg_bg_sampler = HardNegativeSampler(
                batch_size_per_image, positive_fraction, hard_negative_fraction
            )

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.training:
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(
                proposals, targets
            )
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)

        if not self.training:
            boxes, scores, labels = self.postprocess_detections(
                class_logits, with_background_deltas(box_regression), proposals, image_shapes
            )
            if self.nested_thresh is not None:
                keeps = [
                    not_nested(b, s, lb, self.nested_thresh)
                    for b, s, lb in zip(boxes, scores, labels)
                ]
                boxes = [b[k] for b, k in zip(boxes, keeps)]
                scores = [s[k] for s, k in zip(scores, keeps)]
                labels = [lb[k] for lb, k in zip(labels, keeps)]
            result = [
                {"boxes": b, "labels": lb, "scores": s} for b, lb, s in zip(boxes, labels, scores)
            ]
            mask_logits = self._mask_logits(features, boxes, image_shapes)
            all_labels = torch.cat(labels) if labels else mask_logits.new_zeros(0, dtype=torch.long)
            index = torch.arange(all_labels.shape[0], device=all_labels.device)
            probs = mask_logits[index, all_labels - 1][:, None].sigmoid()
            for r, p in zip(result, probs.split([b.shape[0] for b in boxes])):
                r["masks"] = p  # (K, 1, m, m); pasted into the image by the transform
            return result, {}

        loss_cls, loss_box = box_head_loss(
            class_logits, box_regression, labels, regression_targets, self.box_smooth_l1_beta
        )
        # Mask branch: positive RoIs whose matched GT has a mask (mask_valid True).
        rois, roi_labels, roi_targets = [], [], []
        size = self.mask_roi_pool.output_size[0]
        for props, lab, idx, tgt in zip(proposals, labels, matched_idxs, targets):
            keep = lab > 0
            valid = tgt.get("mask_valid")
            if valid is not None:
                keep &= valid.to(lab.device)[idx] if valid.numel() else torch.zeros_like(keep)
            keep = torch.where(keep)[0]
            rois.append(props[keep])
            roi_labels.append(lab[keep])
            roi_targets.append(
                mask_targets(tgt["masks"], props[keep], idx[keep], size, self.mask_target_threshold)
            )
        mask_logits = self._mask_logits(features, rois, image_shapes)
        loss_mask = mask_loss(mask_logits, torch.cat(roi_labels), torch.cat(roi_targets))
        losses = {"loss_classifier": loss_cls, "loss_box_reg": loss_box, "loss_mask": loss_mask}
        return [], losses

    def _mask_logits(
        self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        """(sum K_i, C, m, m) mask logits for the given boxes."""
        pooled = self.mask_roi_pool(features, boxes, image_shapes)
        return self.mask_predictor(self.mask_head(pooled))
