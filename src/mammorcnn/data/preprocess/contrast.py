"""Local contrast equalisation (CLAHE) of the normalised breast, for film and dense breasts.

scikit-image's ``equalize_adapthist`` does the work: a maintained implementation of
Zuiderveld's CLAHE on float images (tiles, clipped histograms, bilinear blending between
tiles), so nothing of it is written here; this module only fixes what it is given.
"""

from __future__ import annotations

import numpy as np


def equalise_local_contrast(
    image: np.ndarray, mask: np.ndarray, clip_limit: float, kernel_px: int
) -> np.ndarray:
    """CLAHE of ``image`` (float in [0, 1]) with square tiles of ``kernel_px`` pixels.

    Pixels outside ``mask`` (background and film labels) are set to 0 first, so that a label
    brighter than the breast takes no share of the tiles' histograms; the clip limit keeps
    the background's many zeros from stretching the skin line. Black stays black (CLAHE
    would lift a tile's zeros to its histogram's first step), so the background does not
    gain a grey rim. scikit-image first stretches the image's own range to [0, 1]; after
    preprocessing's percentiles the breast already spans 0 to 1, so that changes nothing.
    Returns float32 in [0, 1].
    """
    from skimage.exposure import equalize_adapthist  # imported here: only when enabled

    if image.size == 0 or not mask.any():
        return image.astype(np.float32, copy=True)
    inside = np.where(mask, image, 0.0)
    kernel = max(8, min(int(kernel_px), max(image.shape)))
    if float(inside.max()) <= 0:
        return inside.astype(np.float32)
    out = equalize_adapthist(inside, kernel_size=kernel, clip_limit=clip_limit)
    return np.where(inside > 0, np.clip(out, 0.0, 1.0), 0.0).astype(np.float32)
