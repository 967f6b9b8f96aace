"""Turn a COCO ground-truth dict and a COCO results list into the per-image metric inputs.

Both may come from user files (``evaluate --data``, a saved results JSON), so every entry is
checked and a problem raises :class:`AnnotationError` naming the source and the entry, instead
of an assertion deep inside pycocotools.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.engine.metrics.matching import (
    ImageDetections,
    ImageLesions,
    Rle,
    rle_string_counts,
)
from mammorcnn.errors import AnnotationError

# Masks of 2**31 pixels or more (46000 px square) are refused: no mammogram is that large,
# and pycocotools keeps run lengths in 32 bits.
MAX_MASK_PIXELS = 2**31


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bbox_xyxy(entry: dict, where: str, source: str) -> list[float]:
    bbox = entry.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise AnnotationError(source, f"{where}: 'bbox' must be [x, y, width, height]")
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise AnnotationError(source, f"{where}: 'bbox' has non-numeric values") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise AnnotationError(source, f"{where}: 'bbox' {list(bbox)} is not a positive box")
    return [x, y, x + w, y + h]


def _checked_rle(seg: dict, where: str, source: str) -> Rle:
    """A compressed RLE dict whose size and run lengths were validated."""
    size = seg.get("size")
    counts = seg.get("counts")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(_is_int(v) and v > 0 for v in size)
        or size[0] * size[1] >= MAX_MASK_PIXELS
    ):
        raise AnnotationError(source, f"{where}: RLE 'size' must be [height, width]")
    try:
        if isinstance(counts, list):
            if not all(_is_int(v) and abs(v) < MAX_MASK_PIXELS for v in counts):
                raise ValueError("run lengths must be integers")
            runs = np.asarray(counts, dtype=np.int64)
        elif isinstance(counts, (str, bytes)):
            runs = rle_string_counts(counts)
        else:
            raise ValueError("'counts' must be a string or a list")
    except ValueError as exc:
        raise AnnotationError(source, f"{where}: unreadable RLE 'counts' ({exc})") from None
    # Each run within [0, H*W] and the sum exactly H*W: then pycocotools (which stores runs as
    # uint32) reads the same runs and its decoder stays inside its buffer.
    total = size[0] * size[1]
    if len(runs) == 0 or runs.min() < 0 or runs.max() > total or int(runs.sum()) != total:
        raise AnnotationError(source, f"{where}: RLE run lengths do not cover {size[0]}x{size[1]}")
    if isinstance(counts, list):
        return mask_utils.frPyObjects({"size": list(size), "counts": counts}, *size)
    return {"size": list(size), "counts": counts}


def segmentation_to_rle(seg: Any, height: int, width: int, where: str, source: str) -> Rle:
    """Polygon list, uncompressed or compressed RLE -> compressed RLE of size height x width."""
    if isinstance(seg, dict):
        rle = _checked_rle(seg, where, source)
    elif isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        if len(polys) != len(seg) or not polys:
            raise AnnotationError(source, f"{where}: polygon needs at least 3 (x, y) points")
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for p in polys
            for v in p
        ):
            raise AnnotationError(source, f"{where}: polygon has non-numeric coordinates")
        # Vertices are clipped to the image: pycocotools' rasteriser allocates memory in
        # proportion to the polygon's extent, so a stray 1e12 coordinate must not reach it.
        clipped = [
            np.clip(np.asarray(p, dtype=np.float64).reshape(-1, 2), 0, [width, height])
            .reshape(-1)
            .tolist()
            for p in polys
        ]
        rle = mask_utils.merge(mask_utils.frPyObjects(clipped, height, width))
    else:
        raise AnnotationError(source, f"{where}: unknown 'segmentation' format")
    if [int(v) for v in rle["size"]] != [height, width]:
        raise AnnotationError(
            source, f"{where}: mask size {list(rle['size'])} differs from image {height}x{width}"
        )
    if isinstance(rle["counts"], bytes):
        rle["counts"] = rle["counts"].decode("ascii")
    return rle


def load_ground_truth(
    gt_coco: dict, source: str = "ground truth"
) -> tuple[list[int], list[ImageLesions], dict]:
    """Image ids (in file order), their lesions, and a copy of ``gt_coco`` made safe for
    COCOeval (``area``, ``iscrowd`` and ``id`` filled where missing)."""
    if not isinstance(gt_coco, dict) or not isinstance(gt_coco.get("images"), list):
        raise AnnotationError(source, "not a COCO dict with an 'images' list")
    gt = copy.deepcopy(gt_coco)
    gt.setdefault("annotations", [])
    gt.setdefault("categories", [])
    for key in ("annotations", "categories"):
        if not isinstance(gt[key], list) or not all(isinstance(e, dict) for e in gt[key]):
            raise AnnotationError(source, f"'{key}' must be a list of objects")
    category_ids = {c.get("id") for c in gt["categories"] if _is_int(c.get("id"))}
    if len(category_ids) != len(gt["categories"]):
        raise AnnotationError(source, "every category needs a distinct integer 'id'")
    sizes: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(gt["images"]):
        fields = [img.get(k) for k in ("id", "height", "width")] if isinstance(img, dict) else []
        if (
            len(fields) != 3
            or not all(_is_int(v) for v in fields)
            or min(fields[1:]) <= 0
            or fields[1] * fields[2] >= MAX_MASK_PIXELS
        ):
            raise AnnotationError(source, f"images[{i}] needs integer id, height, width")
        if fields[0] in sizes:
            raise AnnotationError(source, f"images[{i}]: duplicate image id {fields[0]}")
        sizes[fields[0]] = (fields[1], fields[2])
    boxes: dict[int, list[list[float]]] = {k: [] for k in sizes}
    masks: dict[int, list[Rle | None]] = {k: [] for k in sizes}
    for i, ann in enumerate(gt["annotations"]):
        where = f"annotations[{i}]"
        image_id = ann.get("image_id")
        if not _is_int(image_id) or image_id not in sizes:
            raise AnnotationError(source, f"{where}: image_id {image_id!r} is not in 'images'")
        if ann.get("category_id") not in category_ids or not _is_int(ann.get("category_id")):
            raise AnnotationError(
                source, f"{where}: unknown category_id {ann.get('category_id')!r}"
            )
        x1, y1, x2, y2 = _bbox_xyxy(ann, where, source)
        boxes[image_id].append([x1, y1, x2, y2])
        ann["bbox"] = [x1, y1, x2 - x1, y2 - y1]
        seg = ann.get("segmentation")
        rle = segmentation_to_rle(seg, *sizes[image_id], where, source) if seg else None
        masks[image_id].append(rle)
        # COCOeval indexes annotations by id (duplicates would silently vanish) and needs
        # iscrowd and area: renumber and recompute in this private copy.
        ann["id"] = i + 1
        ann["iscrowd"] = 1 if ann.get("iscrowd") == 1 else 0
        ann["area"] = float(mask_utils.area(rle)) if rle else (x2 - x1) * (y2 - y1)
    ids = list(sizes)
    lesions = [
        ImageLesions(boxes=np.array(boxes[k]).reshape(-1, 4), masks=masks[k] or None) for k in ids
    ]
    return ids, lesions, gt


def clean_predictions(
    predictions: Sequence[dict],
    image_sizes: dict[int, tuple[int, int]],
    source: str = "predictions",
) -> list[dict]:
    """Checked copies of COCO results entries: int ids, float xywh box and score, and the
    segmentation (if any) as a compressed RLE with str counts of the image's size.

    Category ids are checked for type only: FROC and Dice are class-agnostic, and COCOeval
    ignores detections of categories the ground truth does not have.
    """
    if not isinstance(predictions, (list, tuple)):
        raise AnnotationError(source, "COCO results must be a list of detections")
    clean = []
    for i, pred in enumerate(predictions):
        where = f"[{i}]"
        image_id = pred.get("image_id") if isinstance(pred, dict) else None
        if not _is_int(image_id) or image_id not in image_sizes:
            raise AnnotationError(source, f"{where}: image_id {image_id!r} not in ground truth")
        if not _is_int(pred.get("category_id")):
            raise AnnotationError(source, f"{where}: 'category_id' must be an integer")
        score = pred.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise AnnotationError(source, f"{where}: 'score' must be a number")
        if not math.isfinite(score):
            raise AnnotationError(source, f"{where}: 'score' is {score}")
        x1, y1, x2, y2 = _bbox_xyxy(pred, where, source)
        entry = {
            "image_id": image_id,
            "category_id": pred["category_id"],
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": float(score),
        }
        seg = pred.get("segmentation")
        if seg:
            entry["segmentation"] = segmentation_to_rle(seg, *image_sizes[image_id], where, source)
        clean.append(entry)
    return clean


def group_predictions(
    clean: Sequence[dict], image_ids: Sequence[int]
) -> dict[int, ImageDetections]:
    """Entries of :func:`clean_predictions` per image; every id of ``image_ids`` gets one."""
    per_image: dict[int, list[dict]] = {k: [] for k in image_ids}
    for entry in clean:
        per_image[entry["image_id"]].append(entry)
    out = {}
    for k, entries in per_image.items():
        boxes = np.array([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        masks = [e.get("segmentation") for e in entries]
        out[k] = ImageDetections(
            boxes=boxes,
            scores=np.array([e["score"] for e in entries]),
            masks=masks if any(m is not None for m in masks) else None,
        )
    return out


def load_predictions(
    predictions: Sequence[dict],
    image_sizes: dict[int, tuple[int, int]],
    source: str = "predictions",
) -> dict[int, ImageDetections]:
    """Checked COCO results grouped by image (see :func:`clean_predictions`)."""
    return group_predictions(clean_predictions(predictions, image_sizes, source), list(image_sizes))


def image_sizes(gt: dict) -> dict[int, tuple[int, int]]:
    """image id -> (height, width) of a dict returned by :func:`load_ground_truth`."""
    return {int(img["id"]): (int(img["height"]), int(img["width"])) for img in gt["images"]}
