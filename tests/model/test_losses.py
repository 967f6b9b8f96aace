"""RPN, box and mask losses against hand (NumPy) computations on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.models.detection.image_list import ImageList

from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.box_head import box_head_loss
from mammorcnn.model.mask_head import mask_loss, mask_targets

STRIDES = (4, 8, 16, 32, 64)


def smooth_l1(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return np.where(ax < 1, 0.5 * x**2, ax - 0.5)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def formula_anchors(size: int) -> np.ndarray:
    """All anchors, level by level, location (y, x) by location, then ratio-major (r, s)."""
    rows = []
    for stride in STRIDES:
        n = math.ceil(size / stride)
        for y in range(n):
            for x in range(n):
                cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
                for r in (1.5, 2.5, 3.6):
                    for s in (4, 7, 8, 10, 12):
                        w, h = s * stride / math.sqrt(r), s * stride * math.sqrt(r)
                        rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.array(rows)


def iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / (area + (box[2:] - box[:2]).prod() - inter)


def test_rpn_loss_equals_hand_computation() -> None:
    cfg = tiny_config()
    cfg.rpn.batch_size_per_image = 10**6  # sample every non-ignored anchor: deterministic
    rpn = build_model(cfg).rpn.train()
    for p in rpn.head.parameters():  # non-trivial head outputs
        torch.nn.init.normal_(p, std=0.3)
    size = 64
    feats = {
        f"p{k + 2}": torch.randn(1, 64, math.ceil(size / s), math.ceil(size / s))
        for k, s in enumerate(STRIDES)
    }
    gt = np.array([10.3, 12.1, 40.7, 55.2])
    images = ImageList(torch.zeros(1, 1, size, size), [(size, size)])
    _, losses = rpn(images, feats, [{"boxes": torch.tensor(gt[None], dtype=torch.float32)}])

    with torch.no_grad():
        logits, deltas = rpn.head(list(feats.values()))
    cls = np.concatenate(
        [
            lg[0].reshape(15, 2, *lg.shape[-2:]).permute(2, 3, 0, 1).reshape(-1, 2).numpy()
            for lg in logits
        ]
    )
    reg = np.concatenate(
        [
            d[0].reshape(15, 4, *d.shape[-2:]).permute(2, 3, 0, 1).reshape(-1, 4).numpy()
            for d in deltas
        ]
    )
    anchors = formula_anchors(size)
    overlaps = iou(anchors, gt)
    pos = (overlaps >= 0.7) | (overlaps == overlaps.max())
    neg = (overlaps < 0.3) & ~pos
    assert pos.sum() >= 1 and neg.sum() > 100
    labels = pos.astype(int)
    sampled = pos | neg
    objectness = -log_softmax(cls)[np.arange(len(cls)), labels][sampled].mean()
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    gw, gh = gt[2] - gt[0], gt[3] - gt[1]
    gx, gy = gt[0] + gw / 2, gt[1] + gh / 2
    targets = np.stack([(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)], 1)
    box = smooth_l1(reg[pos] - targets[pos]).sum() / sampled.sum()
    assert losses["loss_objectness"].item() == pytest.approx(objectness, rel=1e-4)
    assert losses["loss_rpn_box_reg"].item() == pytest.approx(box, rel=1e-4)


def test_rpn_proposals_are_ranked_by_softmax_object_probability() -> None:
    rpn = build_model(tiny_config()).rpn.eval()
    for p in rpn.head.parameters():
        torch.nn.init.normal_(p, std=0.3)
    feats = {
        f"p{k + 2}": torch.randn(1, 64, max(64 // s, 1), max(64 // s, 1))
        for k, s in enumerate(STRIDES)
    }
    seen = {}
    original = rpn.filter_proposals

    def spy(proposals, objectness, *args):
        seen["objectness"] = objectness
        return original(proposals, objectness, *args)

    rpn.filter_proposals = spy
    boxes, losses = rpn(ImageList(torch.zeros(1, 1, 64, 64), [(64, 64)]), feats)
    assert losses == {} and boxes[0].shape[1] == 4
    with torch.no_grad():
        logits, _ = rpn.head(list(feats.values()))
    cls = torch.cat([lg[0].reshape(15, 2, -1).permute(2, 0, 1).reshape(-1, 2) for lg in logits])
    torch.testing.assert_close(seen["objectness"].sigmoid(), cls.softmax(dim=1)[:, 1])


def test_box_loss_equals_hand_computation() -> None:
    logits = torch.randn(5, 3)  # C = 2
    deltas = torch.randn(5, 8) * 2
    labels = torch.tensor([0, 1, 2, 0, 2])
    targets = torch.randn(5, 4)
    loss_cls, loss_box = box_head_loss(
        logits, deltas, [labels[:2], labels[2:]], [targets[:2], targets[2:]], 1.0
    )
    lg, d, lb, t = logits.numpy(), deltas.numpy(), labels.numpy(), targets.numpy()
    expected_cls = -log_softmax(lg)[np.arange(5), lb].mean()
    expected_box = (
        sum(
            smooth_l1(d[i, 4 * (lb[i] - 1) : 4 * lb[i]] - t[i]).sum() for i in range(5) if lb[i] > 0
        )
        / 5
    )
    assert loss_cls.item() == pytest.approx(expected_cls, rel=1e-5)
    assert loss_box.item() == pytest.approx(expected_box, rel=1e-5)


def test_mask_loss_equals_hand_computation_on_gt_channel() -> None:
    logits = torch.randn(3, 3, 14, 14)
    labels = torch.tensor([1, 3, 2])
    targets = (torch.rand(3, 14, 14) > 0.5).float()
    lg = logits.numpy()[np.arange(3), labels.numpy() - 1]
    p = 1 / (1 + np.exp(-lg))
    t = targets.numpy()
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    assert mask_loss(logits, labels, targets).item() == pytest.approx(expected, rel=1e-5)


def test_mask_loss_ignores_other_classes_logits() -> None:
    logits = torch.randn(3, 3, 14, 14)
    labels = torch.tensor([1, 3, 2])
    targets = (torch.rand(3, 14, 14) > 0.5).float()
    changed = logits.clone()
    for i, lab in enumerate(labels.tolist()):
        others = [c for c in range(3) if c != lab - 1]
        changed[i, others] = torch.randn(2, 14, 14) * 10
    assert mask_loss(changed, labels, targets).item() == mask_loss(logits, labels, targets).item()
    changed[0, 0] += 1.0  # the GT channel does matter
    assert mask_loss(changed, labels, targets).item() != mask_loss(logits, labels, targets).item()


def test_mask_targets_are_the_gt_mask_cropped_to_the_box_and_resized() -> None:
    gt = (torch.rand(2, 64, 64) > 0.5).to(torch.uint8)
    box = torch.tensor([[4.0, 8.0, 32.0, 36.0]])  # 28 x 28 px -> 2 x 2 px per target cell
    target = mask_targets(gt, box, torch.tensor([1]), 14, 0.5)[0]
    crop = gt[1, 8:36, 4:32].numpy().astype(float)
    expected = crop.reshape(14, 2, 14, 2).mean(axis=(1, 3)) >= 0.5
    np.testing.assert_array_equal(target.numpy(), expected.astype(np.float32))


def _blob_sample() -> tuple[torch.Tensor, dict]:
    image = torch.full((1, 64, 64), 0.1)
    image[:, 20:44, 16:40] = 0.9
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 20:44, 16:40] = 1
    return image, {
        "boxes": torch.tensor([[16.0, 20, 40, 44]]),
        "labels": torch.tensor([1]),
        "masks": masks,
    }


@pytest.mark.parametrize("valid", [True, False])
def test_box_only_annotations_give_no_mask_loss(valid: bool) -> None:
    model = build_model(tiny_config()).train()
    image, target = _blob_sample()
    target["mask_valid"] = torch.tensor([valid])
    losses = model([image], [target])
    losses["loss_mask"].backward()
    grad = model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad
    if valid:
        assert losses["loss_mask"].item() > 0.1 and grad.abs().sum() > 0
    else:
        assert losses["loss_mask"].item() == 0.0 and (grad is None or grad.abs().sum() == 0)
    assert losses["loss_classifier"].item() > 0  # boxes still train
