"""Synthetic masses drawn into real images: what changes in the image, what the target gains,
where a mass may land, and the dataset's use of it in training only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammorcnn.data.synthetic.masses import _EDGE
from mammorcnn.data.synthetic_mass import SyntheticMass

from .test_paste import only_augment, target


def textured(size: int = 96) -> torch.Tensor:
    """A breast of tissue 0.3-0.6 over the left 80 columns, background 0 on the right."""
    g = torch.Generator().manual_seed(0)
    image = 0.3 + 0.3 * torch.rand((1, size, size), generator=g)
    image[0, :, 80:] = 0.0
    return image


def test_a_mass_adds_its_dome_to_the_tissue_as_a_share_of_its_headroom() -> None:
    image = textured()
    draw = SyntheticMass(1.0, size=(0.2, 0.3), contrast=(0.5, 0.5))
    torch.manual_seed(3)
    out, new = draw(image, target(size=96))
    assert len(new["boxes"]) == 1 and new["labels"].tolist() == [1]
    assert new["mask_valid"].tolist() == [True]
    mask = new["masks"][0].bool()
    share = (out[0] - image[0]) / (1 - image[0])  # of the headroom to white
    assert share.min() >= 0 and share.max() <= 0.5 + 1e-6 and out.max() < 1
    assert share[mask].max() > 0.45  # the centre gets (almost) the whole contrast
    assert share[mask].min() >= 0.5 * _EDGE * 0.4  # the margin: 55 %, softened by its blur
    # the tissue shows through: the mass keeps the tissue's texture
    assert torch.corrcoef(torch.stack([out[0][mask], image[0][mask]]))[0, 1] > 0.5
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    assert new["boxes"][0].tolist() == [float(v) for v in box]
    # outside the mask only the blurred margin changes: within half a radius of the box
    width = max(box[2] - box[0], box[3] - box[1])
    margin = width // 4 + 2
    near = torch.zeros_like(mask)
    near[box[1] - margin : box[3] + margin, box[0] - margin : box[2] + margin] = True
    assert (share[~near] == 0).all()
    assert 0.1 * 96 <= width <= 0.3 * 96 * 2  # the size range (spicules may reach further)


def test_no_mass_off_the_breast_over_a_lesion_or_at_probability_zero() -> None:
    image = textured()
    existing = [[0, 0, 40, 96]]  # the left part holds a lesion
    torch.manual_seed(0)
    drawn = 0
    for _ in range(20):
        out, new = SyntheticMass(1.0, (0.05, 0.1), (0.1, 0.3))(image, target(existing, 96))
        assert (out[0, :, 80:] == 0).all()  # the background stays zero
        assert out.max() < 1.0
        if len(new["boxes"]) == 2:
            drawn += 1
            assert new["boxes"][1, 0] >= 40  # clear of the lesion's box
            assert not new["masks"][1].bool()[:, 80:].any()
    assert drawn >= 15
    same, kept = SyntheticMass(0.0, (0.05, 0.1), (0.1, 0.3))(image, target(size=96))
    assert same is image and len(kept["boxes"]) == 0


def test_draws_follow_torchs_seed() -> None:
    image = textured()
    draw = SyntheticMass(1.0, (0.05, 0.2), (0.1, 0.3))
    torch.manual_seed(5)
    a = draw(image, target(size=96))[0]
    torch.manual_seed(5)
    b = draw(image, target(size=96))[0]
    c = draw(image, target(size=96))[0]
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_sizes_and_contrasts_cover_their_ranges() -> None:
    image = textured(256)
    image[0, :, 200:] = 0.0
    draw = SyntheticMass(1.0, (0.04, 0.2), (0.2, 0.7))
    torch.manual_seed(0)
    peaks, areas = [], []
    for _ in range(40):
        out, new = draw(image, target(size=256))
        if len(new["boxes"]):
            mask = new["masks"][0].bool()
            peaks.append(float(((out[0] - image[0]) / (1 - image[0]))[mask].max()))
            areas.append(int(mask.sum()))
    assert len(peaks) >= 35
    assert min(peaks) < 0.3 and max(peaks) > 0.6 and max(peaks) <= 0.7 + 1e-6
    diameters = 2 * np.sqrt(np.array(areas) / np.pi)
    assert diameters.min() < 0.08 * 256 and diameters.max() > 0.14 * 256


def test_the_dataset_draws_masses_in_training_only_and_needs_one_class(tmp_path) -> None:
    from mammorcnn.data import CocoMammoDataset
    from mammorcnn.data.synthetic import generate_phantom_dataset
    from mammorcnn.errors import ConfigError

    coco = generate_phantom_dataset(tmp_path / "ph", 4, seed=3, image_size=128,
                                    negative_fraction=1.0)  # fmt: skip
    config = only_augment(tmp_path, synthetic_mass_prob=1.0)
    train = CocoMammoDataset(coco, config, train=True)
    plain = CocoMammoDataset(coco, config, train=False)
    torch.manual_seed(0)
    gained = sum(len(train[i][1]["boxes"]) for i in range(4) for _ in range(3))
    assert gained >= 10 and all(len(plain[i][1]["boxes"]) == 0 for i in range(4))
    two = generate_phantom_dataset(tmp_path / "two", 2, seed=3, image_size=128,
                                   class_mapping="pathology")  # fmt: skip
    with pytest.raises(ConfigError, match="synthetic_mass_prob needs one category.*benign"):
        CocoMammoDataset(two, config, train=True)
    CocoMammoDataset(two, config, train=False)  # evaluation draws nothing: no objection


@pytest.mark.parametrize(
    "bad",
    ["synthetic_mass_prob=1.5", "synthetic_mass_size=[0.2, 0.1]", "synthetic_mass_size=[0, 0.1]",
     "synthetic_mass_contrast=[0.1, 1.5]"],
)  # fmt: skip
def test_impossible_settings_fail_at_load(bad: str) -> None:
    from mammorcnn.config import load_config
    from mammorcnn.errors import ConfigError

    with pytest.raises(ConfigError, match="synthetic_mass"):
        load_config(None, [f"data.augment.{bad}"])
