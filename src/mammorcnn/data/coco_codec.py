"""COCO masks and JSON files: the one place that reads, checks and writes them.

Datasets and converters (``mammorcnn.data``) and evaluation (``mammorcnn.engine.metrics``) use
the same functions, so a mask means the same thing, and is refused for the same reason, in
``train``, ``convert`` and ``evaluate``:

- :func:`rle_string_counts`: the run lengths of a compressed RLE string (the one decoder);
- :func:`encode_mask` / :func:`encode_masks`: binary masks to compressed RLE (the one encoder);
- :func:`segmentation_rle`: a polygon list or an RLE, checked against its image, to compressed
  RLE (the one set of rules and limits);
- :func:`decode_mask`: compressed RLE to a dense mask;
- :func:`write_json`: strict JSON written atomically (the one writer).

Hand-written where pycocotools is not used because pycocotools' C code trusts its input: a
corrupt RLE string, or run lengths that do not add up to height x width, make its decoder read
or write past its buffers, and its polygon rasteriser allocates memory in proportion to the
polygon's extent. Annotation and results files are shared and untrusted, so every segmentation
is parsed and checked here first; pycocotools then rasterises, merges, measures and decodes.

Polygons more than :data:`POLYGON_TOLERANCE` pixel outside their image are errors, not clipped:
a polygon that far out belongs to another image or another scale (a converter's mistake), and
clipping would quietly score a different lesion from the one drawn. Vertices on the border
(within the tolerance: converters write ``x == width``) are accepted unchanged.
"""

from __future__ import annotations

import errno
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.errors import InputError, OutputError

# Write failures that are the machine's (OutputError); any other is the chosen path's
# (a folder where a file should go, a parent that is a file): InputError.
MACHINE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}

Rle = dict[str, Any]

#: Largest image side: DICOM Rows/Columns are 16-bit, anything larger is a corrupt entry.
MAX_SIDE = 65535
#: Images (and masks) of 2**31 pixels or more are refused: no mammogram is that large, and
#: pycocotools keeps run lengths in 32 bits.
MAX_MASK_PIXELS = 2**31
#: How far (pixels) a polygon vertex may lie outside its image.
POLYGON_TOLERANCE = 1.0


class SegmentationError(ValueError):
    """A segmentation cannot be used; the message says why (callers add file and entry)."""


def image_size_problem(height: Any, width: Any) -> str | None:
    """Why (height, width) cannot be an image's size, or None when it can."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
            return f"'{name}' must be an integer in [1, {MAX_SIDE}], got {value!r:.40}"
    if height * width >= MAX_MASK_PIXELS:
        return f"{height}x{width} pixels exceed the limit of {MAX_MASK_PIXELS} (2**31)"
    return None


def rle_string_counts(counts: str | bytes) -> np.ndarray:
    """Run lengths (int64) of a compressed COCO RLE string, as pycocotools' rleFrString reads it.

    Vectorised (a 4000x3000 mask has thousands of runs and a results file may hold many
    thousands of masks). Raises ValueError on malformed input.

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


def _from_runs(runs: list[int], height: int, width: int) -> Rle:
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def encode_mask(mask: np.ndarray) -> Rle:
    """Compressed RLE (JSON-ready: counts as str) of one HxW binary mask.

    pycocotools needs the whole mask in column-major order, and transposing a 4000x3000 mask
    costs far more than encoding it. A lesion spans a few hundred columns, so only those are
    reordered and encoded; the empty columns before and after are whole-column runs of zeros
    added to the first and last run.
    """
    mask = np.asarray(mask).astype(bool, copy=False)
    h, w = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return _from_runs([h * w], h, w)
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    crop = np.asfortranarray(mask[:, c0:c1].view(np.uint8))[:, :, None]
    runs = rle_string_counts(mask_utils.encode(crop)[0]["counts"]).tolist()
    runs[0] += c0 * h  # the crop starts with a (possibly empty) run of zeros
    if (w - c1) and len(runs) % 2 == 1:
        runs[-1] += (w - c1) * h  # it ends with zeros: extend them
    elif w - c1:
        runs.append((w - c1) * h)
    return _from_runs(runs, h, w)


def encode_masks(masks: np.ndarray, threshold: float = 0.5) -> list[Rle]:
    """Encode (K,H,W) or (K,1,H,W) bool/probability masks (probabilities: ``>= threshold``,
    the rule the model's mask head is trained for)."""
    arr = np.asarray(masks)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"masks must be (K,H,W) or (K,1,H,W), got shape {arr.shape}")
    return [encode_mask(m if m.dtype == bool else m >= threshold) for m in arr]


def decode_mask(rle: Rle) -> np.ndarray:
    """Dense HxW uint8 (0/1) mask of a checked compressed RLE."""
    with warnings.catch_warnings():
        # pycocotools' decode passes copy=False to a NumPy 2 array: a DeprecationWarning per
        # mask that says nothing about the user's data.
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle)


def rle_area(rle: Rle) -> int:
    """Pixels set in a compressed RLE."""
    return int(mask_utils.area(rle))


def _checked_rle(seg: dict, height: int, width: int) -> Rle:
    size = seg.get("size")
    if not (
        isinstance(size, (list, tuple)) and len(size) == 2 and all(type(v) is int for v in size)
    ):
        raise SegmentationError(f"RLE 'size' must be [height, width], got {size!r:.40}")
    if list(size) != [height, width]:
        raise SegmentationError(
            f"mask size {list(size)} (RLE size) differs from the image size "
            f"[{height}, {width}] (height, width)"
        )
    counts = seg.get("counts")
    total = height * width
    if isinstance(counts, (str, bytes)):
        try:
            runs = rle_string_counts(counts)
        except ValueError as exc:
            raise SegmentationError(
                f"unreadable RLE 'counts' ({exc}): the mask is corrupt"
            ) from None
    elif isinstance(counts, list) and all(type(v) is int for v in counts):
        in_range = all(0 <= v <= total for v in counts)  # before numpy: no int64 overflow
        runs = np.asarray(counts if in_range else [-1], dtype=np.int64)
    else:
        raise SegmentationError("RLE 'counts' must be a string or a list of integers")
    # Each run within [0, H*W] and the sum exactly H*W: then pycocotools (which stores runs as
    # uint32) reads the same runs and its decoder stays inside its buffer.
    if len(runs) == 0 or runs.min() < 0 or runs.max() > total or int(runs.sum()) != total:
        detail = "a run is negative or longer than the image" if len(runs) else "no runs"
        if len(runs) and runs.min() >= 0 and runs.max() <= total:
            detail = f"they cover {int(runs.sum())} pixels, the image has {total}"
        raise SegmentationError(
            f"RLE run lengths do not cover the {height}x{width} image ({detail})"
        )
    if isinstance(counts, list):
        return _from_runs(counts, height, width)
    return {
        "size": [height, width],
        "counts": counts if isinstance(counts, str) else counts.decode(),
    }


def _polygons_rle(seg: list, height: int, width: int) -> Rle:
    polys = []
    for p in seg:
        if not isinstance(p, list) or len(p) < 6 or len(p) % 2:
            raise SegmentationError(
                "a polygon needs an even number (>= 6) of coordinates: at least 3 (x, y) points"
            )
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) or not all(
            math.isfinite(v) for v in p
        ):
            raise SegmentationError("a polygon must be a list of finite numbers")
        xs, ys, tol = p[0::2], p[1::2], POLYGON_TOLERANCE
        if min(xs) < -tol or min(ys) < -tol or max(xs) > width + tol or max(ys) > height + tol:
            raise SegmentationError(f"polygon lies outside the image ({width}x{height})")
        polys.append([float(v) for v in p])
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def segmentation_rle(seg: Any, height: int, width: int) -> Rle:
    """A COCO ``segmentation`` (polygon list, uncompressed or compressed RLE) of an image of
    ``height`` x ``width``, checked, as compressed RLE with str counts.

    Raises :class:`SegmentationError` naming the problem; ``height`` and ``width`` must have
    passed :func:`image_size_problem`.
    """
    if isinstance(seg, dict):
        return _checked_rle(seg, height, width)
    if isinstance(seg, list) and seg:
        return _polygons_rle(seg, height, width)
    raise SegmentationError("unknown 'segmentation' format (polygons or RLE expected)")


def _json_safe(value: Any) -> Any:
    """numpy scalars/arrays to Python, NaN/inf to None (strict JSON has neither)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_bytes(data: bytes, path: str | os.PathLike[str]) -> Path:
    """`mammorcnn.atomic.atomic_write_bytes`, with an unwritable place named as an InputError
    (the output path is the user's choice: "path: cannot write (cause)")."""
    path = Path(path)
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        if isinstance(error, OutputError) and error.errno in MACHINE_FAULTS:
            raise  # disk full, read-only file system: the machine's fault, already one line
        raise InputError(path, f"cannot write ({error.strerror or error})") from None
    return path


def write_json(obj: Any, path: str | os.PathLike[str], indent: int | None = None) -> Path:
    """Write ``obj`` as strict JSON (numpy values as Python, NaN/inf as null), atomically: a
    crash leaves the old file or the new one, never half of one."""
    text = json.dumps(_json_safe(obj), indent=indent, allow_nan=False, ensure_ascii=True)
    return write_bytes((text + "\n").encode("ascii"), path)
