"""One image axis of the crop -> flip -> scale -> pad chain, as an exact affine map.

Coordinates are continuous with pixel *corners* at integers (pixel k spans [k, k+1)), the
convention of COCO boxes and of ``F.interpolate(..., align_corners=False)``. Because the map is
affine and stored exactly, boxes round-trip to floating-point precision. The resampling helpers
are hand-written (instead of ``F.interpolate`` on the whole image) so that a mask touches only
its own bounding window: a lesion mask at 4000x3000 costs a few kB, not 50 MB, per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AxisMap:
    """Original pixels [orig_lo, orig_lo + orig_len) <-> model pixels [model_lo, model_lo + model_len)."""

    orig_lo: int  # first original pixel of the crop on this axis
    orig_len: int  # crop length in original pixels
    model_lo: int  # padding before the resized crop in the model image
    model_len: int  # resized crop length in model pixels
    flipped: bool  # crop mirrored on this axis (chest wall brought to the left)

    @property
    def scale(self) -> float:
        """Model pixels per original pixel (exactly model_len / orig_len)."""
        return self.model_len / self.orig_len

    def to_model(self, u: np.ndarray) -> np.ndarray:
        t = np.asarray(u, dtype=np.float64) - self.orig_lo
        if self.flipped:
            t = self.orig_len - t
        return self.model_lo + t * self.scale

    def to_original(self, v: np.ndarray) -> np.ndarray:
        t = (np.asarray(v, dtype=np.float64) - self.model_lo) / self.scale
        if self.flipped:
            t = self.orig_len - t
        return self.orig_lo + t

    def area_weights(self, k0: int, k1: int) -> tuple[int, np.ndarray]:
        """Fraction of each model pixel covered by each original pixel k0..k1-1.

        Returns ``(j0, A)`` with ``A[j - j0, k - k0]``; ``A @ values`` is the exact
        area-weighted average of the original values over each model pixel's footprint.
        """
        k0, k1 = max(k0, self.orig_lo), min(k1, self.orig_lo + self.orig_len)
        if k1 <= k0:
            return self.model_lo, np.zeros((0, 0))
        ends = np.sort(self.to_model(np.array([k0, k1])))
        j0 = max(self.model_lo, math.floor(ends[0]))
        j1 = min(self.model_lo + self.model_len, math.ceil(ends[1]))
        if j1 <= j0:
            return self.model_lo, np.zeros((0, 0))
        foot = np.sort(self.to_original(np.stack([np.arange(j0, j1), np.arange(j0, j1) + 1.0])), 0)
        k = np.arange(k0, k1, dtype=np.float64)
        overlap = np.minimum(foot[1][:, None], k[None, :] + 1) - np.maximum(foot[0][:, None], k)
        return j0, np.clip(overlap, 0.0, None) * self.scale

    def bilinear_weights(
        self, j0: int, j1: int
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
        """Original pixels reached by bilinear upsampling of model pixels j0..j1-1.

        Returns ``(k0, i0, i1, w)``: original pixel ``k0 + n`` takes
        ``(1 - w[n]) * row[i0[n]] + w[n] * row[i1[n]]`` with indices into the resized crop
        (``model_lo`` subtracted). Same sampling and edge clamping as
        ``F.interpolate(mode="bilinear", align_corners=False)`` from model_len to orig_len.
        """
        ends = np.sort(self.to_original(np.array([j0 - 1.0, j1 + 1.0])))
        k0 = max(self.orig_lo, math.floor(ends[0]))
        k1 = min(self.orig_lo + self.orig_len, math.ceil(ends[1]))
        if k1 <= k0:
            return None
        position = self.to_model(np.arange(k0, k1) + 0.5) - 0.5 - self.model_lo
        position = np.clip(position, 0.0, self.model_len - 1)
        i0 = np.floor(position).astype(np.int64)
        i1 = np.minimum(i0 + 1, self.model_len - 1)
        return k0, i0, i1, position - i0
