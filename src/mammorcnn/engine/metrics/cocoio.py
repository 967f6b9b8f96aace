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
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise AnnotationError(source, f"{where}: RLE 'size' must be [height, width]")
    try:
        if isinstance(counts, list):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
                raise ValueError("run lengths must be integers")
            runs = counts
        else:
            runs = rle_string_counts(counts)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnnotationError(source, f"{where}: unreadable RLE 'counts' ({exc})") from None
    if any(v < 0 for v in runs) or sum(runs) != size[0] * size[1]:
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
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
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
        if len(fields) != 3 or not all(_is_int(v) for v in fields) or min(fields[1:]) <= 0:
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


def load_predictions(
    predictions: Sequence[dict],
    image_sizes: dict[int, tuple[int, int]],
    source: str = "predictions",
) -> dict[int, ImageDetections]:
    """Group COCO results entries by image; every image of ``image_sizes`` gets an entry.

    Category ids are checked for type only: FROC and Dice are class-agnostic, and COCOeval
    ignores detections of categories the ground truth does not have.
    """
    if not isinstance(predictions, (list, tuple)):
        raise AnnotationError(source, "COCO results must be a list of detections")
    boxes: dict[int, list] = {k: [] for k in image_sizes}
    scores: dict[int, list[float]] = {k: [] for k in image_sizes}
    masks: dict[int, list[Rle | None]] = {k: [] for k in image_sizes}
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
        boxes[image_id].append(_bbox_xyxy(pred, where, source))
        scores[image_id].append(float(score))
        seg = pred.get("segmentation")
        masks[image_id].append(
            segmentation_to_rle(seg, *image_sizes[image_id], where, source) if seg else None
        )
    return {
        k: ImageDetections(
            boxes=np.array(boxes[k]).reshape(-1, 4),
            scores=np.array(scores[k]),
            masks=masks[k] if any(m is not None for m in masks[k]) else None,
        )
        for k in image_sizes
    }


def image_sizes(gt: dict) -> dict[int, tuple[int, int]]:
    """image id -> (height, width) of a dict returned by :func:`load_ground_truth`."""
    return {int(img["id"]): (int(img["height"]), int(img["width"])) for img in gt["images"]}
