"""Per-image inputs of the lesion metrics and the rule that says when a prediction hits a lesion.

Masks are kept as pycocotools RLE dicts rather than dense arrays: a mammogram is 4000x3000
pixels, so a hundred dense predicted masks per image would need gigabytes, while RLE keeps them
small and pycocotools computes mask overlaps on RLE directly (in C).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.errors import ConfigError

Rle = dict[str, Any]


def _encode_one(mask: np.ndarray) -> Rle:
    """Compressed RLE of one HxW bool mask, encoding only the columns it occupies.

    pycocotools needs the whole mask in column-major order, and transposing a 4000x3000 mask
    costs far more than encoding it. A lesion spans a few hundred columns, so only those are
    reordered and encoded; the empty columns before and after are whole-column runs of zeros
    added to the first and last run.
    """
    h, w = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        runs = [h * w]
    else:
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        crop = np.asfortranarray(mask[:, c0:c1].view(np.uint8))[:, :, None]
        runs = rle_string_counts(mask_utils.encode(crop)[0]["counts"]).tolist()
        runs[0] += c0 * h  # the crop starts with a (possibly empty) run of zeros
        if (w - c1) and len(runs) % 2 == 1:
            runs[-1] += (w - c1) * h  # it ends with zeros: extend them
        elif w - c1:
            runs.append((w - c1) * h)
    rle = mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def encode_masks(masks: np.ndarray, threshold: float = 0.5) -> list[Rle]:
    """Encode (K,H,W) or (K,1,H,W) bool/probability masks as JSON-safe RLE (counts as str).

    Probabilities are binarised at ``threshold`` (>=), the rule the model's mask head is
    trained for.
    """
    arr = np.asarray(masks)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"masks must be (K,H,W) or (K,1,H,W), got shape {arr.shape}")
    return [_encode_one(m if m.dtype == bool else m >= threshold) for m in arr]


def rle_string_counts(counts: str | bytes) -> np.ndarray:
    """Run lengths (int64) of a compressed COCO RLE string, as pycocotools' rleFrString reads it.

    Hand-written because pycocotools does not validate: run lengths that do not add up to
    height x width make its C decoder write past the end of its buffer, so untrusted masks are
    parsed and checked here first. Vectorised (a 4000x3000 mask has thousands of runs and a
    results file may hold many thousands of masks). Raises ValueError on malformed input.

    Format: each run is a little-endian sequence of 5-bit groups, 6 bits per character
    (char - 48), bit 0x20 = "more groups follow", bit 0x10 of the last group = sign; from the
    fourth run on, the value is stored as the difference to the run two places before.
    """
    raw = counts if isinstance(counts, bytes) else counts.encode("utf-8")
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if len(c) == 0:
        return np.zeros(0, dtype=np.int64)
    if c.min() < 0 or c.max() >= 64:
        raise ValueError("invalid character in RLE counts")
    last = (c & 0x20) == 0  # the final character of each run
    if not last[-1]:
        raise ValueError("truncated run length")
    run_id = np.concatenate([[0], np.cumsum(last)[:-1]])
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    position = np.arange(len(c)) - starts[run_id]
    if position.max() > 11:  # more than 60 bits: not a run length of any real image
        raise ValueError("run length too long")
    diffs = np.zeros(len(starts), dtype=np.int64)
    np.add.at(diffs, run_id, (c & 0x1F) << (5 * position))
    ends = np.flatnonzero(last)
    negative = (c[ends] & 0x10) != 0
    diffs[negative] -= np.left_shift(1, 5 * (position[ends][negative] + 1))
    runs = diffs.copy()
    # Runs 3, 5, 7... add run 1, 3, 5...; runs 4, 6... add run 2, 4... (delta to run m-2).
    runs[1::2] = np.cumsum(diffs[1::2])
    runs[2::2] = np.cumsum(diffs[2::2])
    return runs


def decode_rle(rle: Rle) -> np.ndarray:
    """Dense HxW bool mask of one RLE."""
    with warnings.catch_warnings():
        # pycocotools' decode trips numpy 2's copy-keyword DeprecationWarning; harmless.
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


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
