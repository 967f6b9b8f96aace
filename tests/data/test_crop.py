"""LesionCrop: the window holds the chosen lesion, stays in the image and in the breast, and
cuts masks, boxes and labels together."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.data.augment import Augmentation, AugmentConfig
from mammorcnn.data.crop import LesionCrop
from mammorcnn.errors import ConfigError

S = 128


def _sample(lesions: list[tuple[int, int, int, int]]) -> tuple[torch.Tensor, dict]:
    """A breast in the left half of an SxS image, with square lesions (x1, y1, x2, y2)."""
    image = torch.zeros(1, S, S)
    image[:, :, : S // 2] = 0.5
    masks = torch.zeros(len(lesions), S, S, dtype=torch.uint8)
    for k, (x1, y1, x2, y2) in enumerate(lesions):
        masks[k, y1:y2, x1:x2] = 1
    target = {
        "boxes": torch.tensor(lesions, dtype=torch.float).reshape(-1, 4),
        "labels": torch.arange(1, len(lesions) + 1),
        "masks": masks,
        "mask_valid": torch.ones(len(lesions), dtype=torch.bool),
        "image_id": 3,
    }
    return image, target


def test_lesion_crops_hold_the_whole_lesion_at_varied_places():
    crop = LesionCrop(48, lesion_prob=1.0)
    image, target = _sample([(20, 70, 36, 86)])  # 16x16 lesion
    corners = set()
    for seed in range(60):
        torch.manual_seed(seed)
        out_image, out = crop(image, target)
        assert out_image.shape == (1, 48, 48)
        assert len(out["boxes"]) == 1 and out["labels"].tolist() == [1]
        x1, y1, x2, y2 = out["boxes"][0].tolist()
        assert x2 - x1 == 16 and y2 - y1 == 16  # whole, not cut
        assert out["masks"][0].sum() == 256
        # the crop's pixels are the original's at the shifted place
        x0, y0 = 20 - int(x1), 70 - int(y1)
        assert torch.equal(out_image, image[:, y0 : y0 + 48, x0 : x0 + 48])
        corners.add((x0, y0))
    # the lesion may sit anywhere in the window: starts range over [36-48, 20] = [0, 20] in x
    # (clipped at 0) and [86-48, 70] = [38, 70] in y, uniformly; 60 draws hit many of them
    assert len(corners) > 20
    assert all(0 <= x0 <= 20 and 38 <= y0 <= 70 for x0, y0 in corners)


def test_a_lesion_larger_than_the_window_is_centred_and_cut():
    crop = LesionCrop(32, lesion_prob=1.0)
    image, target = _sample([(4, 30, 60, 86)])  # 56x56, centre (32, 58)
    _, out = crop(image, target)
    assert out["boxes"][0].tolist() == [0.0, 0.0, 32.0, 32.0]  # window (16, 42)-(48, 74)
    assert out["masks"][0].all()


def test_breast_crops_are_centred_in_the_breast_and_drop_lesions_left_outside():
    crop = LesionCrop(32, lesion_prob=0.0)
    image, target = _sample([(100, 100, 110, 110)])  # outside the breast: never targeted
    for seed in range(30):
        torch.manual_seed(seed)
        out_image, out = crop(image, target)
        # the window's centre lies in the breast (x < 64), so its left half at least is breast
        assert (out_image[:, :, :16] == 0.5).all()
        assert len(out["boxes"]) == len(out["masks"]) == len(out["labels"]) == 0


def test_a_cut_lesion_keeps_its_visible_part():
    crop = LesionCrop(64, lesion_prob=0.0)
    image, target = _sample([(50, 0, 80, 128)])  # a tall strip across x = 50..80
    torch.manual_seed(0)
    hits = 0
    for seed in range(40):
        torch.manual_seed(seed)
        _, out = crop(image, target)
        if len(out["boxes"]):
            hits += 1
            x1, _, x2, _ = out["boxes"][0].tolist()
            assert out["masks"][0].sum() == (x2 - x1) * 64
    assert hits > 0


def test_smaller_images_than_the_crop_pass_whole():
    image, target = _sample([(20, 70, 36, 86)])
    out_image, out = LesionCrop(256, lesion_prob=1.0)(image, target)
    assert out_image.shape == (1, S, S) and torch.equal(out["boxes"], target["boxes"])


def test_augmentation_crops_first_then_moves_boxes_with_masks():
    config = AugmentConfig(crop_size=64, crop_lesion_prob=1.0, rotation_degrees=20)
    image, target = _sample([(20, 70, 36, 86)])
    augment = Augmentation(config)
    for seed in range(10):
        torch.manual_seed(seed)
        out_image, out = augment(image, target)
        assert out_image.shape == (1, 64, 64)
        assert out["masks"].shape[-2:] == (64, 64)
        assert len(out["boxes"]) == 1  # the targeted lesion survives a mild affine


@pytest.mark.parametrize(
    ("field", "value"), [("crop_size", 16), ("crop_size", -1), ("crop_lesion_prob", 1.5)]
)
def test_bad_crop_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        AugmentConfig(**{field: value})
