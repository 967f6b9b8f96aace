"""Test-time views: run the model on an image, its up-down mirror and rescaled copies, map
each view's detections back onto the image, and merge the views.

A false positive on film is often a chance arrangement of dense tissue that the model scores
in one view and not in the mirrored one, while a mass looks like a mass either way up. Merging
the views the way weighted box fusion does (Solovyev et al., "Weighted boxes fusion", 2021)
keeps what both views agree on at its full score and halves what only one view saw. The up-down
mirror is the flip training already uses (``data.augment.vflip_prob``); left-right would put
the chest wall on the right, which the model never saw (preprocessing puts it on the left).
A rescaled view asks the same of scale: a mass stays a mass a little larger or smaller (the
range training's ``data.augment.scale`` covers), while tissue patterns change their look.

Written here rather than taken from the ``ensemble-boxes`` package because that package fuses
normalised boxes only: it neither returns which detections formed a cluster (needed to fuse
their masks) nor works on tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

# Detections of two views overlapping at least this much (box IoU) are one finding. Above the
# model's own NMS threshold (0.5), so two detections one view kept apart stay apart.
FUSION_IOU = 0.55


def mirror_vertically(output: dict[str, torch.Tensor], height: int) -> dict[str, torch.Tensor]:
    """A model output on the up-down mirrored image, mapped back onto the image itself:
    ``y -> height - y`` for boxes (so y0 and y1 swap) and a flip of the masks' rows."""
    boxes = output["boxes"]
    back = torch.stack(
        [boxes[:, 0], height - boxes[:, 3], boxes[:, 2], height - boxes[:, 1]], dim=1
    )
    result = {**output, "boxes": back}
    if "masks" in output:
        result["masks"] = output["masks"].flip(-2)
    return result


def rescale_image(image: torch.Tensor, scale: float) -> torch.Tensor:
    """A (C, H, W) image resized by ``scale`` (rounded to whole pixels; bilinear, antialiased
    when shrinking). The model pads any size to its stride, so the view needs no padding."""
    height, width = image.shape[-2:]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False, antialias=scale < 1
    )[0]


def unscale_view(
    output: dict[str, torch.Tensor], view_size: tuple[int, int], size: tuple[int, int]
) -> dict[str, torch.Tensor]:
    """A model output on a rescaled view of ``view_size`` (height, width), mapped back onto
    the image of ``size``: box x by width/view width and y by height/view height, masks
    resized bilinearly to the image."""
    fy, fx = size[0] / view_size[0], size[1] / view_size[1]
    result = {**output, "boxes": output["boxes"] * output["boxes"].new_tensor([fx, fy, fx, fy])}
    masks = output.get("masks")
    if masks is not None:
        result["masks"] = (
            F.interpolate(masks.float(), size=size, mode="bilinear", align_corners=False)
            if len(masks)
            else masks.new_zeros((0, masks.shape[1], *size))
        )
    return result


def _clusters(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, views: torch.Tensor
) -> list[list[int]]:
    """Greedy clusters, best score first: the best unassigned detection leads, and each other
    view adds its best unassigned detection of the same class overlapping the leader by
    FUSION_IOU or more (one per view, so a cluster never sums one view's detections)."""
    iou = box_iou(boxes, boxes)
    assigned = torch.zeros(len(scores), dtype=torch.bool)
    clusters = []
    all_views = views.unique().tolist()
    for lead in torch.argsort(scores, descending=True, stable=True).tolist():
        if assigned[lead]:
            continue
        members = [lead]
        candidates = (~assigned) & (labels == labels[lead]) & (iou[lead] >= FUSION_IOU)
        for view in all_views:
            if view == views[lead]:
                continue
            mine = torch.nonzero(candidates & (views == view)).flatten()
            if len(mine):
                members.append(int(mine[torch.argmax(scores[mine])]))
        assigned[members] = True
        clusters.append(members)
    return clusters


def merge_views(
    outputs: Sequence[dict[str, torch.Tensor]], limit: int | None = None
) -> dict[str, torch.Tensor]:
    """One output from the outputs of several views of the same image (in its coordinates).

    Each cluster (see :func:`_clusters`) becomes one detection: its score is the sum of its
    members' scores divided by the number of views (a view that missed it counts 0), its box
    and mask the members' score-weighted means, its label the leader's. Sorted by score, at
    most ``limit``.
    """
    # On the CPU: the clustering's bookkeeping tensors are made there, and the caller moves
    # every output to the CPU next anyway.
    outputs = [{key: value.cpu() for key, value in output.items()} for output in outputs]
    n_views = len(outputs)
    boxes = torch.cat([o["boxes"] for o in outputs]).float()
    scores = torch.cat([o["scores"] for o in outputs]).float()
    labels = torch.cat([o["labels"] for o in outputs])
    views = torch.cat([torch.full((len(o["scores"]),), k) for k, o in enumerate(outputs)])
    clusters = _clusters(boxes, scores, labels, views)
    fused_scores = (
        torch.stack([scores[c].sum() / n_views for c in clusters]) if clusters else scores
    )
    order = torch.argsort(fused_scores, descending=True, stable=True)[:limit].tolist()
    clusters = [clusters[k] for k in order]
    weights = [(scores[c] + 1e-12) / (scores[c] + 1e-12).sum() for c in clusters]
    merged = {
        "boxes": _weighted(boxes, clusters, weights, boxes.new_zeros((0, 4))),
        "scores": fused_scores[order],
        "labels": labels[[c[0] for c in clusters]],
    }
    if all("masks" in o for o in outputs):
        masks = torch.cat([o["masks"] for o in outputs]).float()
        merged["masks"] = _weighted(masks, clusters, weights, masks[:0])
    return merged


def _weighted(
    values: torch.Tensor,
    clusters: list[list[int]],
    weights: list[torch.Tensor],
    empty: torch.Tensor,
) -> torch.Tensor:
    """Each cluster's weighted mean of ``values`` rows, stacked (``empty`` when none)."""
    if not clusters:
        return empty
    rows = []
    for members, w in zip(clusters, weights):
        w = w.reshape(-1, *([1] * (values.dim() - 1)))
        rows.append((values[members] * w).sum(0))
    return torch.stack(rows)
