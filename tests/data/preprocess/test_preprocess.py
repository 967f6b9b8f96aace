"""preprocess: real mammograms end up SxS, whole, chest wall left; synthetic known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from mammorcnn.data.io import RawImage
from mammorcnn.data.preprocess import PreprocessConfig, PreprocessRecord, preprocess
from mammorcnn.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def real_preprocessed(real_images):
    """Each real mammogram preprocessed once: ``(view, raw, image, record)``."""
    return [(view, raw, *preprocess(raw)) for view, _, raw in real_images]


def _breast(height: int, width: int, side: str, seed: int = 0) -> np.ndarray:
    """Half-ellipse 'breast' against the ``side`` edge, film-like noise, a bright label."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    wall = 0 if side == "left" else width - 1
    inside = ((yy - height / 2) / (0.4 * height)) ** 2 + ((xx - wall) / (0.6 * width)) ** 2 < 1
    pixels = np.where(inside, 3000.0 + 500 * np.sin(xx / 7.0), 100.0)
    pixels += rng.normal(0, 30, pixels.shape)
    label_x = width - 12 if side == "left" else 4
    pixels[4:12, label_x : label_x + 8] = 6000.0  # film label in a corner, away from the breast
    return pixels.astype(np.float32)


# ---- the eight real CBIS-DDSM mammograms --------------------------------------------------------


def test_real_to_model_size_and_range(real_preprocessed):
    for _, _, image, record in real_preprocessed:
        assert image.shape == (1024, 1024) and image.dtype == np.float32
        assert image.min() >= 0 and image.max() <= 1 and image.max() == 1
        assert max(record.resized_shape) == 1024


def test_real_all_face_the_same_way(real_preprocessed):
    """Chest wall on the left for every image: right breasts mirrored, left ones not."""
    for view, raw, image, record in real_preprocessed:
        right = view.startswith("r")
        assert record.flipped is right
        assert record.orientation_source == "Laterality"
        assert record.laterality == raw.meta["laterality"]
        # the image content agrees with the tag on every one of these files
        assert record.content_chest_wall == ("right" if right else "left")
        assert record.extra["orientation_conflict"] is False
        columns = image.sum(axis=0)
        assert columns[:512].sum() > 0.95 * columns.sum()  # the breast is in the left half
        assert image[:, :8].mean() > 0.2  # and touches the left edge (chest wall)
        assert image[:, -8:].max() == 0  # nothing against the right edge


def test_real_whole_breast_inside_the_frame(real_preprocessed):
    """Where the crop is inside the image, its border must run through background.

    If the crop cut the breast, the cut line would cross tissue along much of its length.
    The few per cent found on the top/bottom lines of these films are the bright film-edge
    glow along the chest-wall edge, which the lines cross near the image border.
    """
    for view, raw, _, record in real_preprocessed:
        pixels = raw.pixels
        height, width = pixels.shape
        tissue = pixels > 0.1 * np.percentile(pixels[::4, ::4], 99)
        x0, y0, x1, y1 = record.crop_box
        bx0, by0, bx1, by1 = record.breast_box
        assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1
        lines = {
            "left": tissue[y0:y1, x0] if x0 > 0 else None,
            "right": tissue[y0:y1, x1] if x1 < width else None,
            "top": tissue[y0, x0:x1] if y0 > 0 else None,
            "bottom": tissue[y1, x0:x1] if y1 < height else None,
        }
        for side, line in lines.items():
            if line is not None:
                assert line.mean() < 0.1, (view, side, line.mean())


def test_real_content_fallback_agrees(real_images):
    config = PreprocessConfig(image_size=256, trust_laterality=False)
    for view, _, raw in real_images[:2] + real_images[4:6]:
        _, record = preprocess(raw, config)
        assert record.orientation_source == "content"
        assert record.flipped is view.startswith("r")


# ---- synthetic images with known answers -------------------------------------------------------


@pytest.mark.parametrize("side", ["left", "right"])
def test_content_orientation_and_label_removed(side):
    pixels = _breast(240, 160, side)
    image, record = preprocess(RawImage(pixels, {"laterality": None}), PreprocessConfig(64))
    assert record.orientation_source == "content"
    assert record.flipped is (side == "right")
    assert record.laterality == ("R" if side == "right" else "L")
    x0, y0, x1, y1 = record.crop_box
    assert y0 > 12  # the film label (rows 4..11) is a separate component: not in the crop
    assert image[:, : image.shape[1] // 2].sum() > 0.9 * image.sum()


def test_laterality_tag_beats_content():
    pixels = _breast(240, 160, "left")
    meta = {"laterality": "R", "laterality_source": "ImageLaterality"}
    with pytest.warns(
        UserWarning,
        match="ImageLaterality says R but the image content puts the chest wall on the left",
    ):
        _, record = preprocess(RawImage(pixels, meta), PreprocessConfig(64))
    assert (record.flipped, record.orientation_source) == (True, "ImageLaterality")
    assert record.content_chest_wall == "left" and record.extra["orientation_conflict"]


def test_landscape_crop_is_centred_vertically():
    pixels = np.zeros((100, 300), np.float32)
    pixels[30:70, :200] = 1000.0 + np.arange(200)
    # S=600: the segmentation grid (S/2 = 300 px) is the image itself, so the box is exact
    image, record = preprocess(RawImage(pixels, {}), PreprocessConfig(600, margin=0))
    assert record.crop_box == (0, 30, 200, 70)
    assert record.resized_shape == (120, 600)
    assert record.pad == (240, 0)
    assert image[:240].max() == 0 and image[360:].max() == 0 and image[240:360].mean() > 0.3


@pytest.mark.parametrize("pixels", [np.zeros((50, 40)), np.full((3, 5), 7.0), np.ones((1, 1))])
def test_degenerate_images_do_not_crash(pixels):
    image, record = preprocess(RawImage(pixels.astype(np.float32), {}), PreprocessConfig(16))
    assert image.shape == (16, 16) and np.isfinite(image).all()
    assert record.orientation_source == "none" and record.breast_box is None
    assert record.crop_box == (0, 0, pixels.shape[1], pixels.shape[0])


def test_intensity_percentiles():
    pixels = np.zeros((100, 100), np.float32)
    pixels[:, :60] = np.tile(np.arange(60, dtype=np.float32) + 1000, (100, 1))
    config = PreprocessConfig(100, margin=0, percentiles=(0, 100), suppress_outside_breast=False)
    _, record = preprocess(RawImage(pixels, {}), config)
    low, high = record.intensity_range
    assert low == pytest.approx(1000, abs=1) and high == pytest.approx(1059, abs=1)


@pytest.mark.parametrize(
    "bad",
    [{"image_size": 4}, {"margin": -0.1}, {"percentiles": (50, 10)}, {"threshold_scale": 0}],
)
def test_config_rejects_impossible_values(bad):
    with pytest.raises(ConfigError):
        PreprocessConfig(**bad)


def test_record_json_round_trip():
    _, record = preprocess(RawImage(_breast(240, 160, "right"), {}), PreprocessConfig(64))
    text = json.dumps(record.to_dict())
    again = PreprocessRecord.from_dict(json.loads(text))
    assert again == record
    assert again.to_dict()["scale"] == list(record.scale)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 1},
        "not a dict",
        {"version": 99},
    ],
)
def test_record_from_bad_dict_raises_input_error(data):
    with pytest.raises(InputError, match="invalid preprocessing record"):
        PreprocessRecord.from_dict(data)


def test_record_from_dict_rejects_crop_outside_image():
    _, record = preprocess(RawImage(_breast(240, 160, "right"), {}), PreprocessConfig(64))
    data = record.to_dict()
    data["crop_box"] = [0, 0, 500, 500]
    with pytest.raises(InputError, match="outside image"):
        PreprocessRecord.from_dict(data)


def test_real_round_trip_of_boxes_and_masks(real_preprocessed):
    """On a real (mirrored, 4.4x downscaled) record: boxes exact, masks within a model pixel."""
    view, raw, _, record = next(item for item in real_preprocessed if item[0] == "rcc")
    assert record.flipped
    x0, y0, x1, y1 = record.breast_box
    box = np.array([[x0 + 200.5, y0 + 800.25, x0 + 731.0, y0 + 1300.75]])
    assert np.abs(record.boxes_to_original(record.boxes_to_model(box)) - box).max() < 1e-6
    mask = np.zeros(raw.pixels.shape, np.uint8)
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    mask[(yy - cy) ** 2 + ((xx - cx) * 1.5) ** 2 < 250**2] = 1
    back = record.mask_to_original(record.masks_to_model(mask))
    window = np.s_[cy - 300 : cy + 300, cx - 250 : cx + 250]  # the ellipse and a wide rim
    assert back.sum() == back[window].sum()
    mask, back = mask[window], back[window]
    wrong = back != mask
    distance = ndimage.distance_transform_edt(mask) + ndimage.distance_transform_edt(1 - mask)
    assert distance[wrong].max() < 1 / min(record.scale)


def test_package_exports_the_preprocess_function_not_the_subpackage():
    import mammorcnn.data as data
    import mammorcnn.data.preprocess.record  # noqa: F401 - importing a submodule must not rebind

    assert callable(data.preprocess) and data.preprocess.__name__ == "preprocess"
    assert "preprocess" in data.__all__
