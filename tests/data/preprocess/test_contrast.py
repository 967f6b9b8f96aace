"""CLAHE in preprocessing: faint structure gains contrast, labels take no part, off is off."""

from __future__ import annotations

import numpy as np
import pytest

from mammorcnn.data.io import RawImage
from mammorcnn.data.preprocess import PreprocessConfig, preprocess
from mammorcnn.data.preprocess.contrast import equalise_local_contrast
from mammorcnn.errors import ConfigError


def _dense_breast_with_faint_mass(size: int = 128, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Left half is breast: bright tissue with film-like texture (sd 0.02), a disc 0.02
    brighter, and one bright spot at 1.0 (after percentile normalisation a breast spans
    0 to 1, so scikit-image's own rescaling to the image's range changes nothing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    mask = xx < size // 2
    disc = (yy - size / 2) ** 2 + (xx - size / 4) ** 2 < (size / 16) ** 2
    image = 0.8 + 0.02 * disc + rng.normal(0, 0.02, (size, size))
    image[2:4, 2:4] = 1.0
    image = np.where(mask, np.clip(image, 0, 1), 0.0).astype(np.float32)
    return image, mask, disc


def _disc_contrast(image: np.ndarray, mask: np.ndarray, disc: np.ndarray) -> float:
    return float(image[disc].mean() - image[mask & ~disc].mean())


def test_a_faint_mass_gains_contrast_and_the_range_holds() -> None:
    image, mask, disc = _dense_breast_with_faint_mass()
    out = equalise_local_contrast(image, mask, clip_limit=0.02, kernel_px=32)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert 0 <= out.min() and out.max() <= 1
    assert _disc_contrast(image, mask, disc) == pytest.approx(0.02, abs=0.003)
    assert _disc_contrast(out, mask, disc) > 3 * 0.02  # stretched at least three-fold
    assert np.all(out[~mask] == 0)  # background stays black


def test_a_harder_clip_limit_equalises_harder() -> None:
    image, mask, disc = _dense_breast_with_faint_mass()
    soft = equalise_local_contrast(image, mask, clip_limit=0.01, kernel_px=32)
    hard = equalise_local_contrast(image, mask, clip_limit=0.05, kernel_px=32)
    assert _disc_contrast(hard, mask, disc) > _disc_contrast(soft, mask, disc)


@pytest.mark.parametrize("kernel_px", [32, 64])
@pytest.mark.parametrize("level", [0.3, 0.5, 0.8])
def test_uniform_tissue_keeps_its_level(level: float, kernel_px: int) -> None:
    """Nothing to equalise: a flat breast comes out at its own level, not white (the overflow
    that clip limits below 0.01 cause, which the config refuses)."""
    image, mask, _ = _dense_breast_with_faint_mass(4 * kernel_px)
    flat = np.where(mask, level, 0.0).astype(np.float32)
    flat[2:4, 2:4] = 1.0
    out = equalise_local_contrast(flat, mask, clip_limit=0.01, kernel_px=kernel_px)
    centre = out[kernel_px : 3 * kernel_px, kernel_px // 2 : 3 * kernel_px // 2]
    assert centre.mean() == pytest.approx(level, abs=0.03)


def test_a_label_outside_the_breast_does_not_change_the_breast() -> None:
    image, mask, _ = _dense_breast_with_faint_mass()
    labelled = image.copy()
    labelled[4:20, 100:120] = 1.0  # a film label in the background
    plain = equalise_local_contrast(image, mask, clip_limit=0.02, kernel_px=32)
    with_label = equalise_local_contrast(labelled, mask, clip_limit=0.02, kernel_px=32)
    np.testing.assert_array_equal(plain, with_label)


def _raw(size: int = 400, seed: int = 1) -> RawImage:
    """A breast against the left edge with a faint disc, and a bright label at the right."""
    image, mask, _ = _dense_breast_with_faint_mass(size, seed)
    pixels = 200.0 + 3000.0 * image
    pixels[10:30, size - 30 : size - 10] = 4000.0
    return RawImage(pixels=pixels.astype(np.float32), meta={"path": "synthetic"})


def test_preprocess_applies_it_inside_the_breast_only_and_keeps_the_geometry() -> None:
    raw = _raw()
    plain, plain_record = preprocess(raw, PreprocessConfig(image_size=256))
    config = PreprocessConfig(image_size=256, clahe_clip_limit=0.02)
    equalised, record = preprocess(raw, config)
    assert record.to_dict() == plain_record.to_dict()  # same crop, flip, resize and pad
    assert (equalised[plain == 0] == 0).all()  # black stays black: no grey rim, no padding
    # the same tiles as scikit-image given the normalised breast: kernel = 0.125 x 256 = 32 px
    top, left = record.pad
    h, w = record.resized_shape
    breast = plain[top : top + h, left : left + w]
    expected = equalise_local_contrast(breast, breast > 0, 0.02, 32)
    inside = breast > 0
    np.testing.assert_allclose(equalised[top : top + h, left : left + w][inside], expected[inside])
    assert equalised[plain > 0].std() > 1.4 * plain[plain > 0].std()  # texture stretched


def test_off_by_default_and_settings_reach_the_cache_key() -> None:
    default = PreprocessConfig()
    assert default.clahe_clip_limit == 0
    on = PreprocessConfig(clahe_clip_limit=0.01)
    assert default.to_dict() != on.to_dict()  # the cache key is made from to_dict()


@pytest.mark.parametrize(
    "field, value",
    [
        ("clahe_clip_limit", -0.01),
        ("clahe_clip_limit", 0.005),
        ("clahe_clip_limit", 1.5),
        ("clahe_kernel_fraction", 0.0),
    ],
)
def test_out_of_range_settings_are_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        PreprocessConfig(**{field: value})
