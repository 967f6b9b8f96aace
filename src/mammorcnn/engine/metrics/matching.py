"""Per-image inputs of the lesion metrics and the rule that says when a prediction hits a lesion.

Masks are kept as pycocotools RLE dicts rather than dense arrays: a mammogram is 4000x3000
pixels, so a hundred dense predicted masks per image would need gigabytes, while RLE keeps them
small and pycocotools computes mask overlaps on RLE directly (in C).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mammorcnn.data.coco_codec import Rle, decode_mask, encode_masks, rle_string_counts
from mammorcnn.errors import ConfigError

__all__ = [  # encode_masks and rle_string_counts: the codec's, used through this module too
    "HitRule",
    "ImageDetections",
    "ImageLesions",
    "Rle",
    "box_iou",
    "decode_rle",
    "encode_masks",
    "hit_matrix",
    "rle_string_counts",
]


def decode_rle(rle: Rle) -> np.ndarray:
    """Dense HxW bool mask of one RLE."""
    return decode_mask(rle).astype(bool)


def _as_rles(masks: Any, count: int) -> list[Rle | None] | None:
    """Normalise None, a dense (K,H,W) array or a list of RLE/None/HxW arrays to list[RLE|None]."""
    if masks is None:
        return None
    if isinstance(masks, np.ndarray):
        rles: list[Rle | None] = list(encode_masks(masks))
    else:  # a list of RLE, None, or dense HxW arrays
        rles = [encode_masks(m[None])[0] if isinstance(m, np.ndarray) else m for m in masks]
    if len(rles) != count:
        raise ValueError(f"{len(rles)} masks for {count} boxes")
    return rles


def _as_boxes(boxes: Any) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return arr


@dataclass
class ImageDetections:
    """Predictions on one image: boxes (P,4) x1,y1,x2,y2, scores (P,), optional masks.

    ``masks`` may be a dense (P,H,W) bool/probability array or a list of RLE dicts; it is
    stored as a list of RLE.
    """

    boxes: np.ndarray
    scores: np.ndarray
    masks: list[Rle | None] | None = None

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(self.scores) != len(self.boxes):
            raise ValueError(f"{len(self.scores)} scores for {len(self.boxes)} boxes")
        self.masks = _as_rles(self.masks, len(self.boxes))


@dataclass
class ImageLesions:
    """Ground-truth lesions of one image: boxes (G,4) x1,y1,x2,y2 and optional masks.

    A lesion whose mask is None (box-only datasets such as VinDr-Mammo) is judged by its box.
    """

    boxes: np.ndarray
    masks: list[Rle | None] | None = None
    _dense: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _ends: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.masks = _as_rles(self.masks, len(self.boxes))

    def contains(self, index: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether pixels (rows[i], cols[i]) lie in lesion ``index``'s mask.

        Looked up in the run lengths rather than a decoded mask: no HxW allocation per lesion
        and per image, whatever size an annotation file claims.
        """
        rle = self.masks[index]  # type: ignore[index]
        h, w = (int(v) for v in rle["size"])
        if index not in self._ends:
            counts = rle["counts"]
            runs = counts if isinstance(counts, list) else rle_string_counts(counts)
            self._ends[index] = np.cumsum(np.asarray(runs, dtype=np.int64))
        inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        flat = cols * h + rows  # COCO RLE runs go down the columns
        run = np.searchsorted(self._ends[index], flat, side="right")
        return inside & (run % 2 == 1)  # runs alternate background, foreground, ...

    def mask(self, index: int) -> np.ndarray | None:
        """Dense HxW bool mask of lesion ``index`` (decoded once and cached), or None."""
        if self.masks is None or self.masks[index] is None:
            return None
        if index not in self._dense:
            self._dense[index] = decode_rle(self.masks[index])
        return self._dense[index]


@dataclass(frozen=True)
class HitRule:
    """When a prediction counts as finding a lesion.

    ``center`` (default, the usual mammography CAD rule): the centre of the predicted box lies
    inside the lesion (its mask when it has one, else its box). ``iou``: box IoU >= threshold.
    """

    kind: Literal["center", "iou"] = "center"
    iou_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("center", "iou"):
            raise ConfigError(f"hit rule must be 'center' or 'iou', got {self.kind!r}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ConfigError(f"IoU threshold must be in (0, 1], got {self.iou_threshold}")

    @classmethod
    def parse(cls, text: str) -> HitRule:
        """Parse ``center``, ``iou`` or ``iou:0.3`` (the form the command line takes)."""
        kind, _, value = text.strip().lower().partition(":")
        if kind == "iou" and value:
            try:
                return cls("iou", float(value))
            except ValueError:
                raise ConfigError(f"bad IoU threshold in hit rule {text!r}") from None
        if value:
            raise ConfigError(f"hit rule {text!r}: only 'iou' takes a threshold")
        return cls(kind)  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.kind == "center":
            return "center of predicted box inside lesion mask (box if no mask)"
        return f"box IoU >= {self.iou_threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "iou_threshold": self.iou_threshold}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x1,y1,x2,y2 boxes."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def hit_matrix(det: ImageDetections, les: ImageLesions, rule: HitRule) -> np.ndarray:
    """Bool (P,G): whether prediction p hits lesion g under ``rule``."""
    n_pred, n_les = len(det.boxes), len(les.boxes)
    if n_pred == 0 or n_les == 0:
        return np.zeros((n_pred, n_les), dtype=bool)
    if rule.kind == "iou":
        return box_iou(det.boxes, les.boxes) >= rule.iou_threshold
    cx = (det.boxes[:, 0] + det.boxes[:, 2]) / 2.0
    cy = (det.boxes[:, 1] + det.boxes[:, 3]) / 2.0
    hits = np.zeros((n_pred, n_les), dtype=bool)
    col = np.floor(cx).astype(np.int64)
    row = np.floor(cy).astype(np.int64)
    for g in range(n_les):
        if les.masks is None or les.masks[g] is None:
            x1, y1, x2, y2 = les.boxes[g]
            hits[:, g] = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
        else:
            # Pixel (r, c) covers [c, c+1) x [r, r+1); a centre outside the image hits nothing.
            hits[:, g] = les.contains(g, row, col)
    return hits
