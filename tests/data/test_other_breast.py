"""data.preprocess.other_breast: the same woman's other breast as the second input channel.

Known answers: the second channel is exactly the partner's own preprocessed film (as a dataset
without the option gives it), zeros for an unpaired image; augmentation moves both channels
alike; a pasted lesion lands in the film only; the dropout empties the partner.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mammorcnn.config import load_config
from mammorcnn.data import CocoMammoDataset, DataConfig, PreprocessConfig
from mammorcnn.data.augment import Augmentation, AugmentConfig
from mammorcnn.data.breast_pairs import pair_contralateral
from mammorcnn.data.coco import mask_to_rle
from mammorcnn.errors import ConfigError

S = 64


def _breast(path: Path, side: str, seed: int) -> None:
    """A 16-bit half-ellipse breast against ``side`` with its own random texture."""
    rng = np.random.default_rng(seed)
    height, width = 200, 120
    yy, xx = np.mgrid[:height, :width]
    wall = 0 if side == "L" else width - 1
    inside = ((yy - height / 2) / (0.4 * height)) ** 2 + ((xx - wall) / (0.7 * width)) ** 2 < 1
    texture = rng.integers(0, 8000, size=(height, width))
    pixels = np.where(inside, 20000 + texture, 500).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def two_women(tmp_path: Path) -> Path:
    """Woman p: both MLO films (a mass on the left one); woman q: her left MLO only."""
    entries = [(1, "p", "L"), (2, "p", "R"), (3, "q", "L")]
    images = []
    for image_id, patient, side in entries:
        name = f"img/{patient}_{side}.png"
        _breast(tmp_path / name, side, seed=image_id)
        images.append({"id": image_id, "file_name": name, "width": 120, "height": 200,
                       "patient_id": patient, "view": "MLO", "laterality": side})  # fmt: skip
    mask = np.zeros((200, 120), np.uint8)
    mask[90:110, 20:40] = 1
    coco = {
        "images": images,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 90, 20, 20],
                         "segmentation": mask_to_rle(mask), "iscrowd": 0}],
        "categories": [{"id": 1, "name": "mass"}],
    }  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    return path


def _data(tmp_path: Path, other_breast: bool, **augment) -> DataConfig:
    preprocess = PreprocessConfig(image_size=S, other_breast=other_breast)
    return DataConfig(
        preprocess=preprocess, augment=AugmentConfig(**augment), cache_dir=str(tmp_path / "c")
    )


def test_images_pair_by_woman_view_and_side_only():
    images = [
        {"id": 1, "patient_id": "p", "view": "MLO", "laterality": "L"},
        {"id": 2, "patient_id": "p", "view": "MLO", "laterality": "R"},
        {"id": 3, "patient_id": "p", "view": "CC", "laterality": "L"},  # no CC partner
        {"id": 4, "patient_id": "q", "view": "MLO", "laterality": "L"},  # two left MLOs:
        {"id": 5, "patient_id": "q", "view": "MLO", "laterality": "L"},  # which one is unknown
        {"id": 6, "patient_id": "q", "view": "MLO", "laterality": "R"},
        {"id": 7, "view": "MLO", "laterality": "R"},  # no woman
    ]
    assert pair_contralateral(images) == {1: 2, 2: 1}


def test_second_channel_is_the_partners_own_film(two_women: Path, tmp_path: Path):
    alone = CocoMammoDataset(two_women, _data(tmp_path, False))
    films = [alone.preprocessed(i)[0] for i in range(3)]  # fills the cache
    both = CocoMammoDataset(two_women, _data(tmp_path, True))
    assert films[0].shape == (S, S)  # one channel: the film as before
    assert [both.partner(i) for i in range(3)] == [1, 0, None]
    for index, partner in [(0, 1), (1, 0)]:
        image, record = both.preprocessed(index)
        assert image.shape == (2, S, S)
        np.testing.assert_array_equal(image[0], films[index])
        np.testing.assert_array_equal(image[1], films[partner])
        assert record.to_dict() == alone.record(index).to_dict()
    single, _ = both.preprocessed(2)
    np.testing.assert_array_equal(single[0], films[2])
    assert not single[1].any()  # no partner: an empty channel
    # unaugmented items are the same inputs
    item, target = both[0]
    assert item.shape == (2, S, S) and torch.equal(item, torch.from_numpy(both.preprocessed(0)[0]))
    assert len(target["boxes"]) == 1
    # the option is not in the cache key: every film came from the one-channel set's cache
    assert both.cache.misses == 0 and both.cache.hits > 0


def test_dropout_empties_the_partner_in_training_only(two_women: Path, tmp_path: Path):
    off = dict(enabled=False)
    kept = CocoMammoDataset(two_women, _data(tmp_path, True, other_breast_dropout=1.0, **off), True)
    assert kept[0][0][1].any()  # augmentation off: no dropout either (as in evaluation)
    on = dict(hflip_prob=0.0, vflip_prob=0.0, rotation_degrees=0.0, translate=0.0,
              scale=(1.0, 1.0), brightness=0.0, contrast=0.0, gamma=(1.0, 1.0), noise_std=0.0)  # fmt: skip
    dropped = CocoMammoDataset(
        two_women, _data(tmp_path, True, other_breast_dropout=1.0, **on), True
    )
    image, _ = dropped[0]
    assert not image[1].any()
    np.testing.assert_allclose(image[0].numpy(), dropped.preprocessed(0)[0][0], atol=1e-6)
    never = CocoMammoDataset(two_women, _data(tmp_path, True, other_breast_dropout=0.0, **on), True)
    np.testing.assert_allclose(never[0][0].numpy(), never.preprocessed(0)[0], atol=1e-6)


def test_augmentation_moves_both_channels_alike():
    torch.manual_seed(0)
    config = AugmentConfig(hflip_prob=0.5, vflip_prob=0.5, rotation_degrees=30, translate=0.2,
                           scale=(0.7, 1.3), contrast=0.3, gamma=(0.6, 1.6), noise_std=0.0,
                           elastic_prob=1.0, crop_size=48)  # fmt: skip
    augment = Augmentation(config)
    film = torch.zeros(1, S, S)
    film[0, 8:56, 0:40] = torch.linspace(0.2, 0.9, 40)
    mask = torch.zeros(1, S, S, dtype=torch.uint8)
    mask[0, 20:30, 10:20] = 1
    target = {"boxes": torch.tensor([[10.0, 20, 20, 30]]), "labels": torch.tensor([1]),
              "masks": mask, "mask_valid": torch.tensor([True])}  # fmt: skip
    for _ in range(5):
        out, _ = augment(torch.cat([film, film]), target)
        assert out.shape == (2, 48, 48)
        torch.testing.assert_close(out[0], out[1])  # one geometry and intensity for both


def test_pasted_lesion_lands_in_the_film_only(two_women: Path, tmp_path: Path):
    on = dict(hflip_prob=0.0, vflip_prob=0.0, rotation_degrees=0.0, translate=0.0,
              scale=(1.0, 1.0), brightness=0.0, contrast=0.0, gamma=(1.0, 1.0), noise_std=0.0,
              paste_prob=1.0, other_breast_dropout=0.0)  # fmt: skip
    ds = CocoMammoDataset(two_women, _data(tmp_path, True, **on), True)
    torch.manual_seed(1)
    image, target = ds[1]  # the right film has no mass of its own: any lesion was pasted
    assert len(target["boxes"]) == 1
    film, partner = ds.preprocessed(1)[0]
    assert not np.allclose(image[0].numpy(), film)
    np.testing.assert_allclose(image[1].numpy(), partner, atol=1e-6)


def test_config_needs_a_two_channel_stem():
    with pytest.raises(ConfigError, match="model.backbone.in_channels is 1; set both"):
        load_config(None, ["data.preprocess.other_breast=true"])
    with pytest.raises(ConfigError, match="other_breast: false makes 1-channel inputs"):
        load_config(None, ["model.backbone.in_channels=2"])
    with pytest.raises(ConfigError, match="1 .the film. or 2"):
        load_config(None, ["model.backbone.in_channels=3"])
    config = load_config(
        None, ["data.preprocess.other_breast=true", "model.backbone.in_channels=2"]
    )
    assert config.data.preprocess.other_breast and config.model.backbone.in_channels == 2
    # one film's preprocessing is the same either way: the cache key leaves the option out
    assert config.data.preprocess.image_settings() == PreprocessConfig().image_settings()
