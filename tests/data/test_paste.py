"""Copy-paste of lesions: where a patch may land, how it is blended, what the target gains."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.data.paste import (
    FEATHER,
    LesionPaste,
    LesionPatch,
    cut_patch,
    feathered_alpha,
    scaled_patch,
)


def target(boxes: list | None = None, size: int = 64) -> dict:
    boxes = boxes or []
    masks = torch.zeros(len(boxes), size, size, dtype=torch.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        masks[k, y0:y1, x0:x1] = 1
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.ones(len(boxes), dtype=torch.int64),
        "masks": masks,
        "mask_valid": torch.ones(len(boxes), dtype=torch.bool),
        "image_id": 1,
    }


def square_patch(side: int = 6, value: float = 0.9, around: float = 0.3) -> LesionPatch:
    image = torch.full((1, 40, 40), around)
    mask = torch.zeros(40, 40, dtype=torch.bool)
    mask[10 : 10 + side, 20 : 20 + side] = True
    image[0][mask] = value
    patch = cut_patch(image, mask, label=1)
    assert patch is not None
    return patch


def test_cut_patch_pads_the_mask_box_and_refuses_lesions_at_an_edge() -> None:
    patch = square_patch()
    assert patch.pixels.shape == (6 + 2 * FEATHER, 6 + 2 * FEATHER)
    assert patch.mask.sum() == 36 and patch.mask[FEATHER, FEATHER]
    edge = torch.zeros(40, 40, dtype=torch.bool)
    edge[0:3, 30:36] = True  # at the film's top edge: no room for the padding
    assert cut_patch(torch.ones(1, 40, 40), edge, label=2) is None
    near_skin = torch.ones(1, 40, 40)
    near_skin[0, :, 36:] = 0.0  # background within FEATHER of the mask
    middle = torch.zeros(40, 40, dtype=torch.bool)
    middle[10:20, 24:34] = True
    assert cut_patch(near_skin, middle, label=2) is None
    assert cut_patch(torch.ones(1, 40, 40), middle, label=2).label == 2
    assert cut_patch(torch.ones(1, 40, 40), torch.zeros(40, 40, dtype=torch.bool), 1) is None


def test_alpha_is_one_on_the_mask_and_falls_linearly_outside() -> None:
    mask = torch.zeros(30, 30, dtype=torch.bool)
    mask[5:25, 5:25] = True
    alpha = feathered_alpha(mask)
    assert (alpha[5:25, 5:25] == 1).all()
    # chessboard distance d from the mask: 1 - d / (FEATHER + 1)
    for d in range(1, FEATHER + 1):
        assert abs(float(alpha[15, 5 - d]) - (1 - d / (FEATHER + 1))) < 1e-6
        assert abs(float(alpha[5 - d, 5 - d]) - (1 - d / (FEATHER + 1))) < 1e-6
    assert alpha[15, 5 - FEATHER - 1] == 0 and alpha[0, 0] == 0


def test_a_paste_blends_the_lesion_in_and_adds_its_box_mask_and_label() -> None:
    torch.manual_seed(0)
    image = torch.full((1, 64, 64), 0.5)
    patch = square_patch(value=0.9, around=0.3)
    out, new = LesionPaste(prob=1.0)(image, target(), lambda: patch)
    assert len(new["boxes"]) == 1 and new["labels"].tolist() == [1]
    assert new["mask_valid"].tolist() == [True]
    x0, y0, x1, y1 = new["boxes"][0].tolist()
    assert (x1 - x0, y1 - y0) == (6, 6)
    mask = new["masks"][0].bool()
    assert mask.sum() == 36 and mask[int(y0) : int(y1), int(x0) : int(x1)].all()
    # the rim is matched: donor tissue 0.3 lands as the recipient's 0.5, the lesion 0.9 as 1.0
    # (0.9 + 0.2, clamped)
    lesion = out[0, int(y0) : int(y1), int(x0) : int(x1)]
    assert torch.allclose(lesion, torch.ones_like(lesion))
    # around it donor tissue shifted to 0.5 blends with the recipient's 0.5: unchanged
    ring = torch.ones(64, 64, dtype=torch.bool)
    ring[int(y0) : int(y1), int(x0) : int(x1)] = False
    assert torch.allclose(out[0][ring], image[0][ring])


def test_no_paste_off_the_breast_over_a_lesion_or_without_a_lesion() -> None:
    patch = square_patch()
    # the breast is a 10-px strip: a 14-px patch never lies on it
    strip = torch.zeros(1, 64, 64)
    strip[0, :, :10] = 0.5
    out, new = LesionPaste(prob=1.0)(strip, target(), lambda: patch)
    assert torch.equal(out, strip) and len(new["boxes"]) == 0
    # a lesion covering the whole image leaves no free place
    image = torch.full((1, 64, 64), 0.5)
    full = target([[0, 0, 64, 64]])
    out, new = LesionPaste(prob=1.0)(image, full, lambda: patch)
    assert torch.equal(out, image) and len(new["boxes"]) == 1
    out, new = LesionPaste(prob=1.0)(image, target(), lambda: None)
    assert torch.equal(out, image) and len(new["boxes"]) == 0
    out, new = LesionPaste(prob=0.0)(image, target(), lambda: patch)
    assert torch.equal(out, image)


def test_the_background_stays_zero_and_placements_avoid_existing_boxes() -> None:
    torch.manual_seed(1)
    image = torch.full((1, 64, 64), 0.5)
    image[0, :, 56:] = 0.0  # background on the right
    existing = [[0, 0, 32, 64]]  # the left half holds a lesion
    for _ in range(20):
        out, new = LesionPaste(prob=1.0)(image, target(existing), square_patch)
        assert (out[0, :, 56:] == 0).all()
        if len(new["boxes"]) == 2:
            assert new["boxes"][1, 0] >= 32 + FEATHER
            assert not new["masks"][1].bool()[:, 56:].any()  # the lesion ends at the skin


NEUTRAL = dict(vflip_prob=0.0, rotation_degrees=0.0, translate=0.0, scale=(1.0, 1.0),
               brightness=0.0, contrast=0.0, gamma=(1.0, 1.0), noise_std=0.0)  # fmt: skip


def only_augment(tmp_path, **augment):  # noqa: ANN001, ANN201 - a DataConfig
    """128-px images whose only augmentation is ``augment`` (the rest set to no change)."""
    from mammorcnn.data import DataConfig, PreprocessConfig
    from mammorcnn.data.augment import AugmentConfig

    return DataConfig(
        preprocess=PreprocessConfig(image_size=128),
        augment=AugmentConfig(**augment, **NEUTRAL),
        cache_dir=str(tmp_path / "cache"),
    )


def test_the_dataset_pastes_lesions_of_its_own_images_in_training_only(tmp_path) -> None:
    from mammorcnn.data import CocoMammoDataset
    from mammorcnn.data.augment import AugmentConfig
    from mammorcnn.data.synthetic import generate_phantom_dataset

    coco = generate_phantom_dataset(tmp_path / "ph", 6, seed=3, image_size=128,
                                    negative_fraction=0.5)  # fmt: skip
    config = only_augment(tmp_path, paste_prob=1.0)
    train = CocoMammoDataset(coco, config, train=True)
    plain = CocoMammoDataset(coco, config, train=False)
    negatives = [i for i in range(len(train)) if not train.has_lesions(i)]
    assert negatives
    torch.manual_seed(0)
    gained = 0
    for i in negatives * 3:
        image, got = train[i]
        assert len(plain[i][1]["boxes"]) == 0  # evaluation never pastes
        assert len(got["boxes"]) <= 1
        if len(got["boxes"]):
            gained += 1
            x0, y0, x1, y1 = got["boxes"][0].round().int().tolist()
            mask = got["masks"][0].bool()
            assert mask[y0:y1, x0:x1].any() and not mask[:y0].any() and not mask[y1:].any()
            # the pasted lesion is one of the set's lesions: as many pixels as a donor's mask
            areas = {int(plain[d][1]["masks"][k].sum()) for d in range(len(plain))
                     for k in range(len(plain[d][1]["masks"]))}  # fmt: skip
            assert int(mask.sum()) in areas
    assert gained >= len(negatives)  # most tries find a place in a phantom's breast
    # the paste's settings come from the config: no quarter turns unless asked for
    assert train.paste.rotate is False and train.paste.scale == (1.0, 1.0)
    config.augment = AugmentConfig(paste_prob=1.0, paste_rotate=True, **NEUTRAL)
    assert CocoMammoDataset(coco, config, train=True).paste.rotate is True


def test_harmonic_fill_reproduces_a_plane_and_is_exact_on_the_ring() -> None:
    import numpy as np

    from mammorcnn.data.paste import harmonic_fill

    yy, xx = np.mgrid[:9, :13]
    plane = 0.1 + 0.02 * yy - 0.03 * xx  # linear: its discrete Laplacian is 0
    border = plane.copy()
    border[1:-1, 1:-1] = 7.0  # ignored
    assert np.allclose(harmonic_fill(border), plane)
    # a saddle x^2 - y^2 is harmonic for the 5-point Laplacian too
    saddle = (xx - 6.0) ** 2 - (yy - 4.0) ** 2
    ring = saddle.copy()
    ring[1:-1, 1:-1] = 0
    assert np.allclose(harmonic_fill(ring), saddle)


def test_a_scaled_patch_keeps_its_feathered_margin_and_scales_its_lesion() -> None:
    patch = square_patch(side=6)  # 14x14: the 6x6 lesion and FEATHER px of tissue around it
    assert scaled_patch(patch, 1.0) is patch
    # x2: the lesion's 6 px become 12 (bilinear cover > 1/2 at exact halves), the margin
    # is cropped back to FEATHER
    double = scaled_patch(patch, 2.0)
    assert double.mask.shape == (12 + 2 * FEATHER, 12 + 2 * FEATHER)
    assert double.mask.sum() == 144 and double.mask[FEATHER, FEATHER]
    lesion = double.pixels[FEATHER:-FEATHER, FEATHER:-FEATHER]
    assert torch.allclose(lesion[1:-1, 1:-1], torch.tensor(0.9))
    # its outer pixels are bilinear mixes: 3/4 lesion + 1/4 tissue, at corners (3/4)^2 ...
    assert torch.allclose(lesion[0, 1:-1], torch.tensor(0.75 * 0.9 + 0.25 * 0.3))
    assert torch.allclose(lesion[0, 0], torch.tensor(0.5625 * 0.9 + 0.4375 * 0.3))
    # x0.5: 3 px of lesion, and the margin (2 px after the resize) repeated out to FEATHER,
    # so the patch's border fades as an unscaled patch's does: FEATHER px from the mask
    half = scaled_patch(patch, 0.5)
    assert half.mask.shape == (3 + 2 * FEATHER, 3 + 2 * FEATHER) and half.mask.sum() == 9
    for scaled in (patch, double, half):
        alpha = feathered_alpha(scaled.mask)
        border = torch.cat([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        assert torch.allclose(border, torch.tensor(1 - FEATHER / (FEATHER + 1)))
    ring = torch.cat([half.pixels[0], half.pixels[-1], half.pixels[:, 0], half.pixels[:, -1]])
    assert torch.allclose(ring, torch.tensor(0.3))  # the tissue, repeated
    assert scaled_patch(square_patch(side=1), 0.25) is None  # nothing of the lesion is left


def test_pasted_lesions_take_sizes_from_the_scale_range() -> None:
    torch.manual_seed(2)
    image = torch.full((1, 64, 64), 0.5)
    paste = LesionPaste(prob=1.0, scale=(2.0, 2.0))
    out, new = paste(image, target(), square_patch)
    x0, y0, x1, y1 = new["boxes"][0].tolist()
    assert (x1 - x0, y1 - y0) == (12, 12) and new["masks"][0].sum() == 144
    # log-uniform in [0.5, 2]: sides from 3 to 12, as many below 6 as above
    paste = LesionPaste(prob=1.0, scale=(0.5, 2.0))
    factors = torch.tensor([paste.factor() for _ in range(2000)])
    assert 0.5 <= factors.min() and factors.max() <= 2.0
    assert abs(float((factors < 1).float().mean()) - 0.5) < 0.05
    assert abs(float(factors.log().mean())) < 0.05
    # (1, 1) draws nothing: the RNG stream of a paste is the same as before the option
    torch.manual_seed(3)
    assert LesionPaste(prob=1.0).factor() == 1.0
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(3))


def test_paste_scale_is_off_by_default_read_from_yaml_lists_and_checked(tmp_path) -> None:
    from mammorcnn.config import load_config
    from mammorcnn.data.augment import AugmentConfig
    from mammorcnn.errors import ConfigError

    assert AugmentConfig().paste_scale == (1.0, 1.0)
    config = load_config(None, ["data.augment.paste_scale=[0.8,1.25]"])
    assert config.data.augment.paste_scale == (0.8, 1.25)
    assert config.data.augment.to_dict()["paste_scale"] == [0.8, 1.25]
    for bad in ((0.0, 1.0), (1.2, 0.9), (-1.0, 2.0)):
        with pytest.raises(ConfigError, match="paste_scale"):
            AugmentConfig(paste_scale=bad)


def mask_key(mask: torch.Tensor) -> bytes:
    """A boolean mask as a comparable key: its shape, then its pixels."""
    return bytes(str(tuple(mask.shape)), "ascii") + mask.contiguous().numpy().tobytes()


def the_eight_orientations(mask: torch.Tensor) -> set[bytes]:
    """The mask's 8 images under quarter turns and up-down flips, as comparable keys."""
    return {mask_key(f.rot90(turns)) for f in (mask, mask.flip(0)) for turns in range(4)}


def test_rotated_pastes_take_all_eight_orientations_and_stay_exact() -> None:
    # an L-shaped lesion 6 high and 3 wide: each orientation of the square shows a new shape
    image = torch.full((1, 40, 40), 0.3)
    mask = torch.zeros(40, 40, dtype=torch.bool)
    mask[10:16, 20:22] = True
    mask[14:16, 22:23] = True
    image[0][mask] = 0.9
    patch = cut_patch(image, mask, label=1)
    lesion = patch.mask[FEATHER:-FEATHER, FEATHER:-FEATHER]
    expected = the_eight_orientations(lesion)
    assert len(expected) == 8

    def pasted_shapes(rotate: bool, seed: int, n: int = 80) -> list[bytes]:
        torch.manual_seed(seed)
        paste = LesionPaste(prob=1.0, rotate=rotate)
        shapes = []
        for _ in range(n):
            out, new = paste(torch.full((1, 64, 64), 0.5), target(), lambda: patch)
            x0, y0, x1, y1 = (int(v) for v in new["boxes"][0].tolist())
            shape = new["masks"][0].bool()[y0:y1, x0:x1]
            # exact turns: the lesion's pixels are the donor's 0.9 raised by the rim's
            # 0.2 (0.3 -> 0.5), with no interpolated values
            assert torch.allclose(out[0, y0:y1, x0:x1][shape], torch.tensor(1.0))
            assert shape.sum() == lesion.sum()
            shapes.append(mask_key(shape))
        return shapes

    turned = pasted_shapes(rotate=True, seed=4)
    assert set(turned) == expected  # every orientation, and nothing else
    # without rotate only the up-down flip: the lesion as it was and its mirror
    plain = pasted_shapes(rotate=False, seed=4)
    assert set(plain) == {mask_key(lesion), mask_key(lesion.flip(0))}


def test_paste_rotate_is_off_by_default_and_then_draws_nothing() -> None:
    from mammorcnn.config import load_config
    from mammorcnn.data.augment import AugmentConfig

    assert AugmentConfig().paste_rotate is False
    config = load_config(None, ["data.augment.paste_rotate=true"])
    assert config.data.augment.paste_rotate is True
    assert config.data.augment.to_dict()["paste_rotate"] is True
    # off: one paste draws the same random numbers as before the option existed
    image = torch.full((1, 64, 64), 0.5)
    torch.manual_seed(5)
    LesionPaste(prob=1.0)(image, target(), square_patch)
    after_plain = torch.rand(3)
    torch.manual_seed(5)
    LesionPaste(prob=1.0, rotate=False)(image, target(), square_patch)
    assert torch.equal(after_plain, torch.rand(3))
