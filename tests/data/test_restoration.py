"""Models Genesis corruptions (mammorcnn.data.restoration): each against what it must keep
and what it must change."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.data.restoration import (
    CorruptionSettings,
    RestorationDataset,
    bezier_curve,
    corrupt,
    inpaint,
    intensity_curve,
    outpaint,
    shuffle_pixels,
)


def _image(seed: int = 0, channels: int = 1, size: int = 48) -> torch.Tensor:
    return torch.rand((channels, size, size), generator=torch.Generator().manual_seed(seed))


def test_a_bezier_curve_with_control_points_on_the_diagonal_is_the_identity() -> None:
    control = torch.tensor([[0.0, 0.0], [0.2, 0.2], [0.7, 0.7], [1.0, 1.0]])
    xs, ys = bezier_curve(control, steps=11)
    torch.testing.assert_close(xs, ys)
    assert xs[0] == 0 and xs[-1] == 1


def test_a_bezier_curve_at_its_midpoint_is_the_weighted_mean_of_its_control_points() -> None:
    control = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    xs, ys = bezier_curve(control, steps=3)  # t = 0, 0.5, 1: weights 1/8, 3/8, 3/8, 1/8
    assert (xs[1].item(), ys[1].item()) == pytest.approx((0.5, 0.75))


@pytest.mark.parametrize("seed", range(6))
def test_the_intensity_curve_is_monotonic_and_maps_the_ends_to_the_ends(seed: int) -> None:
    levels = torch.linspace(0, 1, 101).reshape(1, 1, 101)
    mapped = intensity_curve(levels, torch.Generator().manual_seed(seed)).flatten()
    steps = mapped[1:] - mapped[:-1]
    assert bool((steps >= -1e-6).all()) or bool((steps <= 1e-6).all())
    assert {round(mapped[0].item(), 4), round(mapped[-1].item(), 4)} == {0.0, 1.0}
    assert mapped.min() >= 0 and mapped.max() <= 1


def test_pixel_shuffling_permutes_pixels_within_one_window() -> None:
    image = _image()
    out = shuffle_pixels(image, windows=1, max_size=8, generator=torch.Generator().manual_seed(1))
    changed = (out != image).nonzero()
    assert 0 < len(changed) <= 64
    rows, cols = changed[:, 1], changed[:, 2]
    assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
    torch.testing.assert_close(out.flatten().sort().values, image.flatten().sort().values)


def test_inpainting_changes_at_most_five_quarter_side_boxes() -> None:
    image = torch.full((1, 60, 60), 2.0)  # noise lies in [0, 1): every painted pixel differs
    out = inpaint(image, generator=torch.Generator().manual_seed(2))
    painted = (out != 2.0).float().mean().item()
    assert 0 < painted <= 5 * (15 * 15) / (60 * 60)
    assert bool((out[out != 2.0] < 1).all())


def test_outpainting_keeps_at_least_one_half_side_box_and_paints_the_rest() -> None:
    image = torch.full((2, 60, 60), 2.0)
    out = outpaint(image, generator=torch.Generator().manual_seed(3))
    kept = (out == 2.0).float().mean().item()
    assert 0.25 <= kept < 1
    torch.testing.assert_close(out[0] == 2.0, out[1] == 2.0)  # channels alike


def test_no_corruption_at_zero_probabilities_and_the_same_view_from_the_same_seed() -> None:
    image = _image(channels=2)
    off = CorruptionSettings(intensity_prob=0, shuffle_prob=0, paint_prob=0)
    assert torch.equal(corrupt(image, off), image)
    on = CorruptionSettings(intensity_prob=1, shuffle_prob=1, paint_prob=1, inpaint_share=0.5)
    first = corrupt(image, on, torch.Generator().manual_seed(4))
    assert torch.equal(first, corrupt(image, on, torch.Generator().manual_seed(4)))
    assert not torch.equal(first, image) and first.shape == image.shape


def test_the_dataset_pairs_a_corrupted_view_with_its_original_and_drops_the_labels() -> None:
    image = _image()
    pairs = RestorationDataset([(image, {"boxes": torch.zeros(1, 4)})], CorruptionSettings())
    torch.manual_seed(5)
    view, target = pairs[0]
    assert len(pairs) == 1 and set(target) == {"original"} and target["original"] is image
    assert view.shape == image.shape and not torch.equal(view, image)
