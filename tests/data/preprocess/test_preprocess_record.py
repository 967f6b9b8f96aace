"""PreprocessRecord: box and mask mappings against formulas, references and round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from mammorcnn.data.preprocess import PreprocessRecord


def _record(flipped: bool, crop=(30, 20, 130, 220), resized=(70, 35), size=80, pad=(5, 0)):
    return PreprocessRecord(
        original_shape=(260, 170),
        crop_box=crop,
        flipped=flipped,
        orientation_source="content",
        laterality="R" if flipped else "L",
        resized_shape=resized,
        pad=pad,
        image_size=size,
        intensity_range=(0.0, 1.0),
    )


@pytest.mark.parametrize("flipped", [False, True])
def test_boxes_to_model_formula(flipped):
    record = _record(flipped)
    box = np.array([[40.0, 50.0, 60.0, 100.0]])
    sx, sy = 35 / 100, 70 / 200  # resized / crop
    xs = np.array([40.0, 60.0]) - 30
    if flipped:
        xs = 100 - xs
    expected = [xs.min() * sx, 5 + 30 * sy, xs.max() * sx, 5 + 80 * sy]
    np.testing.assert_allclose(record.boxes_to_model(box)[0], expected, rtol=1e-12)
    assert record.scale == pytest.approx((sx, sy))


@pytest.mark.parametrize("flipped", [False, True])
def test_boxes_round_trip_exact(flipped):
    record = _record(flipped, crop=(17, 9, 160, 251), resized=(80, 47), pad=(0, 0))
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 150, size=(50, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(1, 60, size=(50, 2))], axis=1)
    back = record.boxes_to_original(record.boxes_to_model(boxes))
    assert np.abs(back - boxes).max() < 1e-9
    as_tensor = record.boxes_to_original(record.boxes_to_model(torch.tensor(boxes).float()))
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    assert (as_tensor.double() - torch.tensor(boxes)).abs().max() < 1e-3  # float32 precision


@pytest.mark.parametrize("flipped", [False, True])
def test_masks_to_model_exact_when_pixels_align(flipped):
    """Scale exactly 1/2: a mask on even pixel edges becomes the rectangle the formula says."""
    record = _record(flipped, crop=(10, 20, 110, 220), resized=(100, 50), size=100, pad=(0, 0))
    mask = np.zeros((260, 170), np.uint8)
    mask[60:100, 30:70] = 1  # y in [40, 80) and x in [20, 60) relative to the crop
    model = record.masks_to_model(mask)
    expected = np.zeros((100, 100), np.uint8)
    x0, x1 = (20, 40) if flipped else (10, 30)  # flipped: 100 - [20, 60) = (40, 80] -> /2
    expected[20:40, x0:x1] = 1
    np.testing.assert_array_equal(model, expected)


def test_masks_to_model_keeps_a_lesion_smaller_than_a_pixel():
    record = _record(False, crop=(0, 0, 160, 160), resized=(40, 40), size=40, pad=(0, 0))
    mask = np.zeros((260, 170), np.uint8)
    mask[81, 82] = 1  # 1/16 of a model pixel
    model = record.masks_to_model(mask[None])
    assert model.shape == (1, 40, 40) and model.sum() == 1 and model[0, 20, 20] == 1


def test_masks_outside_the_crop_are_empty():
    record = _record(False)
    mask = np.zeros((2, 260, 170), np.uint8)
    mask[0, 0:10, 0:10] = 1  # left of and above the crop
    mask[1, 100:120, 60:80] = 1
    model = record.masks_to_model(torch.from_numpy(mask))
    assert isinstance(model, torch.Tensor) and model.dtype == torch.uint8
    assert model[0].sum() == 0 and model[1].sum() > 0


@pytest.mark.parametrize("flipped", [False, True])
def test_mask_to_original_equals_torch_bilinear(flipped):
    """Reference: F.interpolate(bilinear, align_corners=False) of the un-padded, un-flipped
    region, placed at the crop box. The sub-window implementation must agree everywhere."""
    record = _record(flipped)
    rng = np.random.default_rng(1)
    prob = np.zeros((80, 80), np.float32)
    prob[5:75, 0:35] = rng.random((70, 35))
    prob[30:40, 10:20] = 0  # holes and
    prob[5:20, :] = 0  # empty rows must not matter
    out = record.mask_to_original(prob)
    region = torch.from_numpy(prob[5:75, 0:35].copy())
    if flipped:
        region = region.flip(-1)
    reference = np.zeros((260, 170), np.float32)
    reference[20:220, 30:130] = F.interpolate(
        region[None, None], size=(200, 100), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(out, reference, atol=1e-5)
    assert out.dtype == np.float32


def test_mask_to_original_dtypes_and_batches():
    record = _record(True)
    binary = np.zeros((3, 80, 80), bool)
    binary[1, 30:50, 5:20] = True
    out = record.mask_to_original(binary)
    assert out.shape == (3, 260, 170) and out.dtype == bool
    assert out[0].sum() == 0 and out[1].sum() > 0
    probs = torch.zeros(2, 1, 80, 80, dtype=torch.float16)
    probs[0, 0, 30:50, 5:20] = 0.9
    out_t = record.mask_to_original(probs)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == (2, 1, 260, 170)
    assert out_t.dtype == torch.float16 and float(out_t.max()) == pytest.approx(0.9, abs=1e-3)


def _ellipse(shape, centre, axes, angle):
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    c, s = np.cos(angle), np.sin(angle)
    u = ((xx - centre[0]) * c + (yy - centre[1]) * s) / axes[0]
    v = (-(xx - centre[0]) * s + (yy - centre[1]) * c) / axes[1]
    return (u * u + v * v <= 1).astype(np.uint8)


@pytest.mark.parametrize("flipped", [False, True])
def test_mask_round_trip_within_one_model_pixel(flipped):
    """original -> model -> original: the mask moves by less than one model pixel anywhere,
    and its box agrees with the mapped box to below one model pixel."""
    record = _record(flipped, crop=(17, 9, 160, 251), resized=(80, 47), size=80, pad=(0, 0))
    mask = _ellipse((260, 170), (90, 120), (30, 18), 0.5)
    model = record.masks_to_model(mask)
    back = record.mask_to_original(model)
    pixel = 1 / min(record.scale)  # one model pixel in original pixels (about 3)
    boundary = ndimage.distance_transform_edt(mask) + ndimage.distance_transform_edt(1 - mask)
    wrong = back != mask
    assert wrong.sum() < 0.15 * mask.sum()
    assert boundary[wrong].max() < pixel
    ys, xs = np.nonzero(model)
    model_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    ys, xs = np.nonzero(mask)
    mapped = record.boxes_to_model(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]))[0]
    assert np.abs(model_box - mapped).max() < 1


def test_model_mask_round_trip_is_exact_up_to_the_boundary():
    """model -> original -> model returns the same mask except at most a 1-pixel rim."""
    record = _record(True, crop=(17, 9, 160, 251), resized=(80, 47), size=80, pad=(0, 0))
    model = _ellipse((80, 80), (20, 40), (9, 14), 0.3)
    again = record.masks_to_model(record.mask_to_original(model))
    wrong = again != model
    rim = ndimage.binary_dilation(model) & ~ndimage.binary_erosion(model)
    assert not (wrong & ~rim).any()
    assert wrong.sum() <= 0.1 * model.sum()
