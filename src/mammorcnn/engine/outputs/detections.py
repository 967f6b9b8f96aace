"""The detections dict every writer takes, normalised to numpy.

It is the model's eval output for one image (``boxes`` (K,4) x1,y1,x2,y2, ``scores`` (K,),
``labels`` (K,), optional ``masks`` (K,H,W) or (K,1,H,W) probabilities or bools) after the
preprocessing record mapped it back to the original image's pixels. Tensors on the CPU are
accepted as they are (``np.asarray`` reads them), so the CLI need not convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections of one image as numpy arrays, in original-image pixel coordinates."""

    boxes: np.ndarray  # (K, 4) float64 x1, y1, x2, y2
    scores: np.ndarray  # (K,) float64
    labels: np.ndarray  # (K,) int64; 1 when the input had none
    masks: np.ndarray | None  # (K, H, W) bool or float probabilities, or None

    def __len__(self) -> int:
        return len(self.scores)

    def binary_masks(self, threshold: float = 0.5) -> np.ndarray | None:
        """(K,H,W) bool masks: probabilities >= threshold (the mask head's decision rule)."""
        if self.masks is None:
            return None
        return self.masks if self.masks.dtype == bool else self.masks >= threshold

    def keep(self, index: np.ndarray) -> Detections:
        """The subset ``index`` (bool mask or integer indices)."""
        return Detections(
            self.boxes[index],
            self.scores[index],
            self.labels[index],
            None if self.masks is None else self.masks[index],
        )


def as_detections(detections: Mapping[str, Any] | Detections) -> Detections:
    """Normalise a model-style dict (or pass a :class:`Detections` through)."""
    if isinstance(detections, Detections):
        return detections
    boxes = np.asarray(detections["boxes"], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(detections["scores"], dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(scores)} scores for {len(boxes)} boxes")
    labels = detections.get("labels")
    labels = (
        np.ones(len(boxes), dtype=np.int64)
        if labels is None
        else np.asarray(labels, dtype=np.int64).reshape(-1)
    )
    masks = detections.get("masks")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        if masks.ndim != 3 or len(masks) != len(boxes):
            raise ValueError(f"masks must be (K,H,W) or (K,1,H,W) for K={len(boxes)}")
    return Detections(boxes, scores, labels, masks)
