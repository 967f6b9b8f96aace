"""``preprocess``: raw mammogram -> SxS float32 in [0, 1] with the chest wall on the left.

Steps (each recorded in :class:`PreprocessRecord`): find the breast, crop with a margin,
mirror right breasts, resize the longer side to S (aspect ratio kept, antialiased), normalise
intensities by breast percentiles, optionally equalise local contrast (CLAHE), zero outside
the breast, pad to SxS (crop at the left edge, centred vertically).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from mammorcnn.data.io.raw import RawImage
from mammorcnn.data.preprocess.breast import BreastMask, find_breast
from mammorcnn.data.preprocess.config import PreprocessConfig
from mammorcnn.data.preprocess.contrast import equalise_local_contrast
from mammorcnn.data.preprocess.record import PreprocessRecord


def preprocess(
    raw: RawImage, config: PreprocessConfig | None = None
) -> tuple[np.ndarray, PreprocessRecord]:
    """Turn a decoded image into the model's input; see the module docstring for the steps."""
    config = config or PreprocessConfig()
    pixels = raw.pixels
    height, width = pixels.shape
    size = config.image_size
    # segmentation grid of about S/2 pixels: twice the model's pixel size, which the mask
    # dilation covers, at a quarter of the morphology cost
    grid = max(32, size // 2)
    breast = find_breast(pixels, grid, config.opening_fraction, config.threshold_scale)
    breast_box = breast.box((height, width))
    crop = _crop_box(breast_box, (height, width), config)
    content_side = _content_chest_wall(breast)
    flipped, source, laterality = _orientation(raw.meta, content_side, config.trust_laterality)
    conflict = source != "content" and content_side is not None and laterality is not None
    conflict = conflict and (content_side == "right") != (laterality == "R")
    if conflict:
        warnings.warn(
            f"{raw.meta.get('path', 'image')}: {source} says {laterality} but the image content "
            f"puts the chest wall on the {content_side}; following the tag (set "
            "preprocess.trust_laterality=False to follow the content)",
            stacklevel=2,
        )

    x0, y0, x1, y1 = crop
    crop_h, crop_w = y1 - y0, x1 - x0
    scale = size / max(crop_h, crop_w)
    resized_shape = (
        max(1, min(size, round(crop_h * scale))),
        max(1, min(size, round(crop_w * scale))),
    )
    pad = ((size - resized_shape[0]) // 2, 0)
    record = PreprocessRecord(
        original_shape=(height, width),
        crop_box=crop,
        flipped=flipped,
        orientation_source=source,
        laterality=laterality,
        resized_shape=resized_shape,
        pad=pad,
        image_size=size,
        intensity_range=(0.0, 1.0),
        breast_box=breast_box,
        content_chest_wall=content_side,
        extra={"breast_threshold": breast.threshold, "orientation_conflict": conflict},
    )
    region = pixels[y0:y1, x0:x1]
    if flipped:
        region = region[:, ::-1]
    resized = _resize(np.ascontiguousarray(region), resized_shape)
    mask = _model_mask(breast, record)
    low, high = _intensity_range(resized, mask, config.percentiles)
    record.intensity_range = (low, high)
    normalised = np.clip((resized - low) / (high - low), 0.0, 1.0) if high > low else resized * 0
    keep = None  # what stays non-zero: the dilated breast mask, or everything
    if config.suppress_outside_breast and mask.any():
        keep = mask
        if config.mask_dilation_px > 0:
            keep = ndimage.binary_dilation(mask, iterations=config.mask_dilation_px)
    if config.clahe_clip_limit > 0:
        kernel_px = round(config.clahe_kernel_fraction * size)
        normalised = equalise_local_contrast(
            normalised,
            np.ones_like(mask) if keep is None else keep,
            config.clahe_clip_limit,
            kernel_px,
        )
    if keep is not None:
        normalised = np.where(keep, normalised, 0.0)
    image = np.zeros((size, size), dtype=np.float32)
    image[pad[0] : pad[0] + resized_shape[0], pad[1] : pad[1] + resized_shape[1]] = normalised
    return image, record


def _crop_box(
    breast_box: tuple[int, int, int, int] | None, shape: tuple[int, int], config: PreprocessConfig
) -> tuple[int, int, int, int]:
    """Breast box plus margin, clipped to the image; the whole image if no breast was found."""
    height, width = shape
    if breast_box is None or not config.crop_to_breast:
        return 0, 0, width, height
    x0, y0, x1, y1 = breast_box
    margin = int(round(config.margin * max(x1 - x0, y1 - y0)))
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )


def _content_chest_wall(breast: BreastMask) -> str | None:
    """The image half holding more breast pixels is the chest-wall side (the breast is widest
    there and touches that edge); None when there is no breast or the halves are equal."""
    mask = breast.mask
    half = mask.shape[1] / 2
    columns = mask.sum(axis=0)
    centres = np.arange(mask.shape[1]) + 0.5
    left, right = int(columns[centres < half].sum()), int(columns[centres > half].sum())
    if left == right:
        return None
    return "left" if left > right else "right"


def _orientation(
    meta: dict, content_side: str | None, trust_laterality: bool
) -> tuple[bool, str, str | None]:
    """(flip?, which source decided, laterality). Right breasts are stored with the chest wall
    on the right (the hanging convention), so a right breast is mirrored."""
    laterality = meta.get("laterality")
    if trust_laterality and laterality in ("L", "R"):
        return laterality == "R", str(meta.get("laterality_source") or "meta"), laterality
    if content_side is None:
        return False, "none", None
    return content_side == "right", "content", "R" if content_side == "right" else "L"


def _resize(region: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear, antialiased when shrinking, align_corners=False: the pixel-corner convention
    of :class:`~mammorcnn.data.preprocess.geometry.AxisMap`."""
    if region.shape == shape:
        return region.astype(np.float32, copy=False)
    tensor = torch.from_numpy(region.astype(np.float32, copy=False))[None, None]
    out = F.interpolate(tensor, size=shape, mode="bilinear", antialias=True, align_corners=False)
    return out[0, 0].numpy()


def _model_mask(breast: BreastMask, record: PreprocessRecord) -> np.ndarray:
    """Breast mask on the resized crop: each model pixel centre looked up in the breast grid."""
    (top, left), (rh, rw) = record.pad, record.resized_shape
    ys = record.y_map.to_original(np.arange(top, top + rh) + 0.5)
    xs = record.x_map.to_original(np.arange(left, left + rw) + 0.5)
    return breast.sample(ys, xs)


def _intensity_range(
    resized: np.ndarray, mask: np.ndarray, percentiles: tuple[float, float]
) -> tuple[float, float]:
    """Raw values that become 0 and 1: the breast's percentiles; for a flat breast the crop's
    range (background 0, breast 1); for a flat crop (0, 0), which gives an all-zero image."""
    values = resized[mask] if mask.any() else resized.ravel()
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:
        low, high = float(resized.min()), float(resized.max())
    return low, high
