"""Elastic deformation: the field has the stated size in pixels, and image, masks and boxes
move together."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from mammorcnn.data.augment import Augmentation, AugmentConfig
from mammorcnn.data.elastic import (
    displacement_field,
    pixels_to_grid,
    separable_gaussian_blur,
)
from mammorcnn.errors import ConfigError


@pytest.mark.parametrize("rms_px, sigma_px", [(3.0, 12.0), (1.0, 2.0), (6.0, 40.0)])
def test_field_has_the_requested_rms_at_any_smoothness(rms_px, sigma_px):
    torch.manual_seed(0)
    field = displacement_field(96, 128, rms_px, sigma_px)
    assert field.shape == (1, 96, 128, 2)
    for axis in range(2):
        rms = field[..., axis].pow(2).mean().sqrt()
        torch.testing.assert_close(rms, torch.tensor(rms_px), rtol=1e-5, atol=1e-6)


def test_field_is_smooth_over_sigma():
    """Neighbouring offsets almost agree for sigma 12; white noise (tiny sigma) does not."""
    torch.manual_seed(1)

    def neighbour_correlation(field: torch.Tensor) -> float:
        a, b = field[0, :, :-1, 0].flatten(), field[0, :, 1:, 0].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    assert neighbour_correlation(displacement_field(128, 128, 3.0, 12.0)) > 0.99
    assert neighbour_correlation(displacement_field(128, 128, 3.0, 0.1)) < 0.2


def test_pixel_offsets_become_the_stated_shift():
    """A constant +2 px x offset: output pixel x takes the input's value at x + 2."""
    image = torch.arange(16.0).repeat(8, 1)[None]  # value = column index
    field = torch.zeros(1, 8, 16, 2)
    field[..., 0] = 2.0
    out = F.elastic(tv_tensors.Image(image), pixels_to_grid(field), fill=0)
    torch.testing.assert_close(out[0, :, :14], image[0, :, 2:])
    assert (out[0, :, 14:] == 0).all()  # pulled from outside the image: the fill


def test_augmentation_moves_image_masks_and_boxes_together():
    size = 96
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[0, 30:60, 35:70] = 1
    image = torch.full((1, size, size), 0.2)
    image[mask.bool()] = 0.9
    target = {
        "boxes": torch.tensor([[35.0, 30, 70, 60]]),
        "labels": torch.tensor([1]),
        "masks": mask,
        "mask_valid": torch.tensor([True]),
    }
    config = AugmentConfig(
        vflip_prob=0, rotation_degrees=0, translate=0, scale=(1, 1), brightness=0, contrast=0,
        gamma=(1, 1), noise_std=0, elastic_prob=1.0, elastic_px=4.0, elastic_sigma_px=8.0,
    )  # fmt: skip
    augment = Augmentation(config)
    for seed in range(5):
        torch.manual_seed(seed)
        out_image, out = augment(image, target)
        moved = out["masks"][0].bool()
        assert not torch.equal(moved, mask[0].bool())  # the outline changed shape
        # the bright lesion pixels are where the moved mask is (bilinear edges aside)
        bright = out_image[0] > 0.55
        agreement = (bright == moved).float().mean()
        assert agreement > 0.99
        ys, xs = torch.nonzero(moved, as_tuple=True)
        tight = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert out["boxes"][0].tolist() == [float(v) for v in tight]


def test_elastic_off_by_default_and_bad_values_rejected():
    assert AugmentConfig().elastic_prob == 0
    for bad in ({"elastic_prob": 1.5}, {"elastic_px": -1.0}, {"elastic_sigma_px": 0.0}):
        with pytest.raises(ConfigError):
            AugmentConfig(**bad)


def test_separable_blur_matches_torchvisions_full_kernel():
    torch.manual_seed(2)
    images = torch.rand(2, 1, 40, 50)
    sigma = 3.0
    kernel = 2 * int(4 * sigma) + 1
    expected = F.gaussian_blur(images, [kernel, kernel], [sigma, sigma])
    torch.testing.assert_close(separable_gaussian_blur(images, sigma), expected, atol=1e-5, rtol=0)
