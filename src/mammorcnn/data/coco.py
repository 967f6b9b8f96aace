"""COCO instance-segmentation files: strict loading of datasets and their masks.

Every dataset the tool uses goes through :func:`load_coco`, so a bad annotation is caught once,
here, with the file and the problem named, instead of surfacing later as a crash in the model.
mammorcnn extensions to COCO: ``patient_id`` on images (used for splitting) and
``"mammorcnn_box_only": true`` on annotations that have a box but no mask (VinDr-Mammo).
Masks are read, checked and written by :mod:`mammorcnn.data.coco_codec`, whose rules and
limits evaluation shares; ``mask_to_rle``, ``write_json_atomic`` and ``write_bytes_atomic`` are
its ``encode_mask``, ``write_json`` and ``write_bytes`` under the names converters use.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.data.coco_codec import (
    MAX_SIDE,
    SegmentationError,
    decode_mask,
    image_size_problem,
    rle_area,
    segmentation_rle,
    write_json,
)
from mammorcnn.data.coco_codec import encode_mask as mask_to_rle
from mammorcnn.data.coco_codec import write_bytes as write_bytes_atomic
from mammorcnn.data.coco_codec import write_json as write_json_atomic
from mammorcnn.errors import AnnotationError

BOX_ONLY = "mammorcnn_box_only"
_BOX_TOLERANCE = 1e-3  # float round-off of converters writing x + w == width


class _Bad(Exception):
    """One image or annotation is unusable (raised inside validation, never escapes)."""


def _int(obj: dict, key: str, what: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if key not in obj:
        raise _Bad(f"{what}: missing key '{key}'")
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _Bad(f"{what}: '{key}' must be an integer in [{lo}, {hi}], got {v!r:.40}")
    return v


def _numbers(v: Any, n: int | None, what: str) -> list[float]:
    ok = isinstance(v, list) and (n is None or len(v) == n)
    if ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        if all(math.isfinite(x) for x in v):
            return [float(x) for x in v]
    raise _Bad(f"{what} must be a list of {n or 'some'} finite numbers, got {v!r:.60}")


def _mask_area(seg: Any, height: int, width: int, what: str) -> int:
    """Pixels of a checked segmentation (the rules are the codec's, shared with evaluation)."""
    try:
        return rle_area(segmentation_rle(seg, height, width))
    except SegmentationError as error:
        raise _Bad(f"{what}: {error}") from None


def _check_annotation(ann: Any, images: dict[int, dict], cats: set[int], what: str) -> dict:
    if not isinstance(ann, dict):
        raise _Bad(f"{what}: must be an object")
    what = f"{what} (id {_int(ann, 'id', what)})"
    image_id = _int(ann, "image_id", what)
    if image_id not in images:
        raise _Bad(f"{what}: image_id {image_id} is not among the images")
    cat = _int(ann, "category_id", what)
    if cat not in cats:
        raise _Bad(f"{what}: unknown category_id {cat} (known: {sorted(cats)})")
    img = images[image_id]
    h, w = img["height"], img["width"]
    if "bbox" not in ann:
        raise _Bad(f"{what}: missing key 'bbox'")
    x, y, bw, bh = _numbers(ann["bbox"], 4, f"{what}: bbox")
    if bw <= 0 or bh <= 0:
        raise _Bad(f"{what}: bbox has zero or negative size (width {bw}, height {bh})")
    tol = _BOX_TOLERANCE
    if min(x, y) < -tol or x + bw > w + tol or y + bh > h + tol:
        raise _Bad(f"{what}: bbox {ann['bbox']} lies outside image {image_id} ({w}x{h})")
    box_only = ann.get(BOX_ONLY, False)
    if not isinstance(box_only, bool):
        raise _Bad(f"{what}: '{BOX_ONLY}' must be true or false")
    if ann.get("iscrowd", 0) not in (0, 1) or isinstance(ann.get("iscrowd"), bool):
        raise _Bad(f"{what}: 'iscrowd' must be 0 or 1")
    seg = ann.get("segmentation")
    out = dict(ann)
    if box_only:
        if seg not in (None, []):
            raise _Bad(f"{what}: a box-only annotation must not have a segmentation")
        out.setdefault("area", bw * bh)
    else:
        if not (isinstance(seg, dict) or (isinstance(seg, list) and seg)):
            raise _Bad(f"{what}: missing segmentation (polygons or RLE; or set '{BOX_ONLY}')")
        area = _mask_area(seg, h, w, what)
        if area == 0:
            raise _Bad(f"{what}: empty mask (no pixel set)")
        out.setdefault("area", area)
    out.setdefault("iscrowd", 0)
    return out


def _check_image(img: Any, what: str, root: Path | None) -> dict:
    if not isinstance(img, dict):
        raise _Bad(f"{what}: must be an object")
    what = f"{what} (id {_int(img, 'id', what)})"
    for key in ("width", "height"):
        _int(img, key, what, 1, MAX_SIDE)
    problem = image_size_problem(img["height"], img["width"])
    if problem:
        raise _Bad(f"{what}: {problem}")
    name = img.get("file_name")
    if not isinstance(name, str) or not name or "\0" in name:
        raise _Bad(f"{what}: 'file_name' must be a non-empty string")
    pid = img.get("patient_id")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, (str, int))):
        raise _Bad(f"{what}: 'patient_id' must be a string or an integer")
    if root is not None and not resolve_image_path(name, root).is_file():
        raise _Bad(f"{what}: file not found: {resolve_image_path(name, root)}")
    return img


def resolve_image_path(file_name: str, base_dir: str | os.PathLike[str]) -> Path:
    """An image entry's file: ``file_name`` relative to the JSON's folder, or absolute."""
    return Path(base_dir) / file_name  # an absolute file_name wins in the join


def _read_json(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnnotationError(path, f"cannot read: {e.strerror or e}") from None
    if not data.strip():
        raise AnnotationError(path, "file is empty")
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        problem = f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        raise AnnotationError(path, problem) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as e:
        raise AnnotationError(path, f"malformed JSON: {type(e).__name__}") from None


def validate_coco(
    obj: Any,
    source: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    skipped: list[dict] | None = None,
) -> dict:
    """Check a parsed COCO object; see :func:`load_coco`. ``source`` names it in errors."""
    root_p = None if root is None else Path(root)

    def bad(kind: str, item_id: Any, problem: str) -> None:
        if not skip_bad:
            raise AnnotationError(source, problem)
        warnings.warn(f"{source}: skipped {kind}: {problem}", stacklevel=3)
        if skipped is not None:
            skipped.append({"file": str(source), "kind": kind, "id": item_id, "problem": problem})

    if not isinstance(obj, dict):
        raise AnnotationError(source, "top level must be a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(obj.get(key), list):
            what = "missing key" if key not in obj else "not a list:"
            raise AnnotationError(source, f"{what} '{key}' at the top level")
    cats: set[int] = set()
    for i, cat in enumerate(obj["categories"]):
        try:
            if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
                raise _Bad(f"categories[{i}]: needs an integer 'id' and a string 'name'")
            cid = _int(cat, "id", f"categories[{i}]")
        except _Bad as e:
            raise AnnotationError(source, str(e)) from None
        if cid in cats:
            raise AnnotationError(source, f"duplicate category id {cid}")
        cats.add(cid)
    if not cats:
        raise AnnotationError(source, "no categories")
    if not obj["images"]:
        raise AnnotationError(source, "no images (an empty dataset)")
    images: dict[int, dict] = {}
    first: dict[int, int] = {}
    dup_images: set[int] = set()
    dropped: list[Any] = []  # ids of skipped images (any JSON value), to name in their annotations
    for i, img in enumerate(obj["images"]):
        try:
            img = _check_image(img, f"images[{i}]", root_p)
        except _Bad as e:
            bad("image", img.get("id") if isinstance(img, dict) else None, str(e))
            dropped.append(img.get("id") if isinstance(img, dict) else None)
            continue
        if img["id"] in first:  # ambiguous ownership: with skip_bad every copy goes
            where = f"images[{first[img['id']]}] and images[{i}]"
            bad("image", img["id"], f"duplicate image id {img['id']} ({where})")
            dup_images.add(img["id"])
            continue
        first[img["id"]], images[img["id"]] = i, img
    for dup in dup_images:
        del images[dup]
    if not images:
        raise AnnotationError(source, "no usable images left after skipping bad ones")
    anns: list[dict] = []
    seen: dict[int, int] = {}
    dropped += dup_images
    for i, ann in enumerate(obj["annotations"]):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if type(image_id) is int and image_id not in images and image_id in dropped:
            bad("annotation", ann.get("id"), f"annotations[{i}]: its image {image_id} was skipped")
            continue
        try:
            ann = _check_annotation(ann, images, cats, f"annotations[{i}]")
        except _Bad as e:
            bad("annotation", ann.get("id") if isinstance(ann, dict) else None, str(e))
            continue
        if ann["id"] in seen:
            where = f"annotations[{seen[ann['id']]}] and annotations[{i}]"
            bad("annotation", ann["id"], f"duplicate annotation id {ann['id']} ({where})")
            continue
        seen[ann["id"]] = i
        anns.append(ann)
    out = dict(obj)
    out["images"] = list(images.values())
    out["annotations"] = anns
    return out


def load_coco(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    skipped: list[dict] | None = None,
) -> dict:
    """Load and validate a COCO instance-segmentation JSON.

    Raises :class:`AnnotationError` naming the first problem. With ``skip_bad`` a bad image
    (with its annotations) or a bad annotation is dropped with a warning and described in the
    caller's ``skipped`` list (to be written to skipped.json); file-level problems (malformed
    JSON, missing keys, bad categories, no images) always raise. ``root`` (normally the JSON's
    folder) turns on the check that every image file exists. Missing ``area``/``iscrowd`` are
    filled in so pycocotools' evaluation can use the result directly.
    """
    path = Path(path)
    return validate_coco(_read_json(path), path, root=root, skip_bad=skip_bad, skipped=skipped)


def annotation_mask(ann: dict, height: int, width: int) -> np.ndarray:
    """The annotation's mask as uint8 HxW (0/1).

    Box-only annotations give their filled box, so geometric augmentation can still move them
    and re-derive the box; their ``mask_valid`` is False, so no mask loss is taken from it.
    """
    if ann.get(BOX_ONLY):
        out = np.zeros((height, width), np.uint8)
        x, y, w, h = ann["bbox"]
        out[max(int(y), 0) : math.ceil(y + h), max(int(x), 0) : math.ceil(x + w)] = 1
        return out
    rle = segmentation_rle(ann["segmentation"], height, width)
    return np.ascontiguousarray(decode_mask(rle), dtype=np.uint8)


def write_coco(obj: dict, path: str | os.PathLike[str]) -> Path:
    """Write a COCO dict atomically (the one writer every converter and split uses)."""
    return write_json(obj, path)


__all__ = [
    "BOX_ONLY",
    "MAX_SIDE",
    "annotation_mask",
    "load_coco",
    "mask_to_rle",
    "resolve_image_path",
    "validate_coco",
    "write_bytes_atomic",
    "write_coco",
    "write_json_atomic",
]
