"""Turn a COCO ground-truth dict and a COCO results list into the per-image metric inputs.

Both may come from user files (``evaluate --data``, a saved results JSON), so every entry is
checked and a problem raises :class:`AnnotationError` naming the source and the entry, instead
of an assertion deep inside pycocotools. Masks and image sizes are checked by
:mod:`mammorcnn.data.coco_codec`, the rules dataset loading applies too.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mammorcnn.data.coco_codec import (
    Rle,
    SegmentationError,
    image_size_problem,
    rle_area,
    rle_string_counts,
    segmentation_rle,
)
from mammorcnn.engine.metrics.matching import ImageDetections, ImageLesions
from mammorcnn.errors import AnnotationError

__all__ = [  # rle_string_counts: the codec's decoder, imported from here by older code
    "clean_predictions",
    "group_predictions",
    "image_sizes",
    "load_ground_truth",
    "load_predictions",
    "rle_string_counts",
    "segmentation_to_rle",
]


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


def segmentation_to_rle(seg: Any, height: int, width: int, where: str, source: str) -> Rle:
    """Polygon list, uncompressed or compressed RLE -> checked compressed RLE of the image's
    size (the codec's rules, shared with dataset loading)."""
    try:
        return segmentation_rle(seg, height, width)
    except SegmentationError as error:
        raise AnnotationError(source, f"{where}: {error}") from None


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
        if len(fields) != 3 or not _is_int(fields[0]):
            raise AnnotationError(source, f"images[{i}] needs integer id, height, width")
        problem = image_size_problem(fields[1], fields[2])
        if problem:
            raise AnnotationError(source, f"images[{i}] needs integer id, height, width: {problem}")
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
        ann["area"] = float(rle_area(rle)) if rle else (x2 - x1) * (y2 - y1)
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
