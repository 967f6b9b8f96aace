"""Augmentation: image, boxes and masks move together; degenerate boxes go; defaults are safe."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.data.augment import Augmentation, AugmentConfig, boxes_from_masks
from mammorcnn.errors import ConfigError

S = 64


def _sample() -> tuple[torch.Tensor, dict]:
    image = torch.zeros(1, S, S)
    image[:, 8:56, 0:28] = torch.linspace(0.2, 0.9, 28)  # breast against the left edge
    masks = torch.zeros(3, S, S, dtype=torch.uint8)
    masks[0, 20:30, 10:25] = 1
    masks[1, 36:44, 4:12] = 1  # box-only instance: its mask is the filled box
    masks[2, 50:54, 28:34] = 1
    boxes = torch.tensor([[10, 20, 25, 30], [4, 36, 12, 44], [28, 50, 34, 54]], dtype=torch.float)
    target = {
        "boxes": boxes,
        "labels": torch.tensor([1, 2, 1]),
        "masks": masks,
        "mask_valid": torch.tensor([True, False, True]),
        "image_id": 7,
    }
    return image, target


def _tight_boxes(masks: torch.Tensor) -> torch.Tensor:
    out = []
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return torch.tensor(out, dtype=torch.float).reshape(-1, 4)


def test_boxes_follow_masks_under_strong_augmentation():
    config = AugmentConfig(hflip_prob=0.5, rotation_degrees=40, translate=0.3, scale=(0.6, 1.4))
    augment = Augmentation(config)
    image, target = _sample()
    removed = 0
    for seed in range(40):
        torch.manual_seed(seed)
        out_image, out = augment(image, target)
        n = len(out["boxes"])
        removed += 3 - n
        assert out_image.shape == (1, S, S) and out_image.dtype == torch.float32
        assert out["masks"].shape == (n, S, S) and out["masks"].dtype == torch.uint8
        assert len(out["labels"]) == len(out["mask_valid"]) == n
        assert out["image_id"] == 7
        torch.testing.assert_close(out["boxes"], _tight_boxes(out["masks"]))
        sizes = out["boxes"][:, 2:] - out["boxes"][:, :2]
        assert (sizes >= config.min_box_size).all()
        assert out["boxes"].min() >= 0 and out["boxes"].max() <= S
        # labels and mask_valid stay attached to their instance (the box-only one has label 2)
        assert torch.equal(out["labels"] == 2, ~out["mask_valid"])
    assert removed > 0  # strong shifts push the edge lesions out: those were removed


def test_vertical_flip_known_answer():
    config = AugmentConfig(
        vflip_prob=1.0, rotation_degrees=0, translate=0, scale=(1, 1), brightness=0,
        contrast=0, gamma=(1, 1), noise_std=0,
    )  # fmt: skip
    image, target = _sample()
    out_image, out = Augmentation(config)(image, target)
    torch.testing.assert_close(out_image, image.flip(-2))
    assert torch.equal(out["masks"], target["masks"].flip(-2))
    x1, y1, x2, y2 = target["boxes"].unbind(1)
    torch.testing.assert_close(out["boxes"], torch.stack([x1, S - y2, x2, S - y1], 1))


def test_default_keeps_chest_wall_left():
    """hflip is off by default: whatever else happens, the breast stays on the left."""
    assert AugmentConfig().hflip_prob == 0
    augment = Augmentation(AugmentConfig())
    image, target = _sample()
    for seed in range(20):
        torch.manual_seed(seed)
        out_image, _ = augment(image, target)
        assert out_image[..., : S // 2].sum() > 3 * out_image[..., S // 2 :].sum()


def test_intensity_changes_breast_only_and_stays_in_range():
    config = AugmentConfig(
        vflip_prob=0, rotation_degrees=0, translate=0, scale=(1, 1), brightness=0.3,
        contrast=0.5, gamma=(0.5, 2.0), noise_std=0,
    )  # fmt: skip
    image, target = _sample()
    changed = False
    for seed in range(10):
        torch.manual_seed(seed)
        out_image, _ = Augmentation(config)(image, target)
        assert out_image[image == 0].abs().max() == 0  # background untouched
        assert 0 <= out_image.min() and out_image.max() <= 1
        changed |= not torch.allclose(out_image, image)
    assert changed


def test_boxes_from_masks_rules():
    masks = torch.zeros(3, 8, 8, dtype=torch.uint8)
    masks[0, 2:4, 3:7] = 1
    boxes = torch.tensor([[0.0, 0, 1, 1], [1, 1, 5, 5], [2, 2, 6, 6]])
    valid = torch.tensor([True, False, True])
    out = boxes_from_masks(masks, boxes, valid)
    assert out[0].tolist() == [3, 2, 7, 4]  # tight box of the mask
    assert out[1].tolist() == [1, 1, 5, 5]  # box-only without a mask: keeps its box
    assert out[2].tolist() == [0, 0, 0, 0]  # real mask gone: degenerate, to be removed


def test_empty_target():
    image, _ = _sample()
    target = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, S, S, dtype=torch.uint8),
        "mask_valid": torch.zeros(0, dtype=torch.bool),
    }
    out_image, out = Augmentation(AugmentConfig())(image, target)
    assert out_image.shape == (1, S, S) and out["boxes"].shape == (0, 4)
    assert out["masks"].shape == (0, S, S)


@pytest.mark.parametrize(
    "bad", [{"hflip_prob": 2}, {"scale": (1.2, 0.8)}, {"gamma": (0, 1)}, {"min_box_size": 0.5}]
)
def test_config_rejects_impossible_values(bad):
    with pytest.raises(ConfigError):
        AugmentConfig(**bad)
