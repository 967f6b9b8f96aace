"""Find the breast: Otsu threshold + opening + largest connected component, on a small image.

Works on a block-averaged copy about S pixels long (fast, and the noise of film grain is
averaged away). The opening detaches film labels, lead markers and thin film-edge strips
that touch the breast; the component is then grown back into the thresholded pixels near
it so the faint skin line is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage


@dataclass
class BreastMask:
    """Breast mask on the block-averaged grid; pixel (r, c) covers original rows r*f..r*f+f-1."""

    mask: np.ndarray  # bool (h, w), False everywhere if no breast was found
    factor: int  # block size f in original pixels
    threshold: float  # intensity threshold used (raw units)

    def box(self, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """Bounding box x0, y0, x1, y1 in original pixels of an image of ``shape``."""
        rows, cols = np.flatnonzero(self.mask.any(1)), np.flatnonzero(self.mask.any(0))
        if rows.size == 0:
            return None
        f, (h, w) = self.factor, self.mask.shape
        # the last block row/column also owns the original rows/columns cut off by the blocking
        y1 = shape[0] if rows[-1] == h - 1 else (rows[-1] + 1) * f
        x1 = shape[1] if cols[-1] == w - 1 else (cols[-1] + 1) * f
        return int(cols[0] * f), int(rows[0] * f), int(x1), int(y1)

    def sample(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Mask value at original coordinates (ys column, xs row) -> bool (len(ys), len(xs))."""
        h, w = self.mask.shape
        r = np.clip(np.floor(ys / self.factor).astype(np.int64), 0, h - 1)
        c = np.clip(np.floor(xs / self.factor).astype(np.int64), 0, w - 1)
        return self.mask[r[:, None], c[None, :]]


def block_mean(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Average over factor x factor blocks (the partial last blocks are dropped)."""
    if factor == 1:
        return pixels
    tensor = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))[None, None]
    return F.avg_pool2d(tensor, factor, stride=factor)[0, 0].numpy()  # 5x faster than numpy


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance) on a histogram.

    Hand-written: scikit-image is not a dependency and this is ten lines of numpy.
    """
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return high
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(counts)[:-1].astype(np.float64)
    weight1 = counts.sum() - weight0
    sum0 = np.cumsum(counts * centres)[:-1]
    mean0 = sum0 / np.maximum(weight0, 1)
    mean1 = (np.sum(counts * centres) - sum0) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[1:-1][int(np.argmax(between))])


def find_breast(
    pixels: np.ndarray, target_size: int, opening_fraction: float, threshold_scale: float
) -> BreastMask:
    """Segment the breast of ``pixels`` on a grid of about ``target_size`` pixels."""
    factor = max(1, max(pixels.shape) // target_size)
    small = block_mean(pixels, factor)
    low = float(small.min())
    threshold = low + threshold_scale * (otsu_threshold(small) - low)
    foreground = small > threshold
    radius = int(round(opening_fraction * max(small.shape)))
    seeds = foreground
    if radius > 0:
        disk = _disk(radius)
        opened = ndimage.binary_opening(foreground, structure=disk)
        seeds = opened if opened.any() else foreground
    labels, count = ndimage.label(seeds)
    if count == 0:
        return BreastMask(np.zeros(small.shape, dtype=bool), factor, threshold)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    component = labels == int(np.argmax(sizes)) + 1
    if radius > 0:  # grow back into the thresholded pixels the opening removed (skin line)
        component = ndimage.binary_dilation(component, structure=_disk(radius + 1)) & foreground
    return BreastMask(ndimage.binary_fill_holes(component), factor, threshold)


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius
