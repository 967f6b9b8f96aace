"""Mask PNGs in the original image's geometry: a label map or a binary mask per image."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.outputs.detections import Detections, as_detections


def label_mask(
    detections: Mapping[str, Any] | Detections,
    image_shape: tuple[int, int] | None = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """uint8 HxW: 0 background, k+1 where detection k (in input order) covers the pixel.

    Where detections overlap, the higher-scoring one wins, so the map shows what a reader
    would call the finding there. At most 255 detections fit in 8 bits.
    """
    det = as_detections(detections)
    masks = det.binary_masks(threshold)
    if masks is None:
        if image_shape is None:
            raise ValueError("detections without masks need image_shape")
        return np.zeros(image_shape, dtype=np.uint8)
    if len(det) > 255:
        raise ValueError(f"{len(det)} detections do not fit a uint8 label map (max 255)")
    out = np.zeros(masks.shape[1:] if image_shape is None else image_shape, dtype=np.uint8)
    for k in np.argsort(det.scores, kind="stable"):  # lowest first, best painted last
        out[masks[k]] = k + 1
    return out


def binary_mask(
    detections: Mapping[str, Any] | Detections,
    image_shape: tuple[int, int] | None = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """uint8 HxW: 255 inside any detection's mask, 0 elsewhere (viewable as it is)."""
    return np.where(label_mask(detections, image_shape, threshold) > 0, 255, 0).astype(np.uint8)


def write_mask_png(mask: np.ndarray, path: Path) -> Path:
    """Write a 2-D uint8 (label or 0/255) or bool (as 0/255) mask as an 8-bit PNG, atomically.

    Values are stored exactly (PNG is lossless), so a label map reads back as the labels.
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise ValueError(f"mask must be uint8 or bool, got {arr.dtype}")
    buffer = io.BytesIO()
    # Level 1: masks compress well anyway, and a 4000x3000 image stays fast to write.
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
