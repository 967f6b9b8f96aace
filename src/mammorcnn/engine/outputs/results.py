"""COCO results entries and JSON files: what `predict` writes and `evaluate` reads back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mammorcnn.data.coco_codec import encode_masks, write_json
from mammorcnn.engine.outputs.detections import Detections, as_detections


def coco_results(
    image_id: int,
    detections: Mapping[str, Any] | Detections,
    category_ids: Mapping[int, int] | None = None,
    mask_threshold: float = 0.5,
) -> list[dict]:
    """COCO results entries (image_id, category_id, bbox xywh, score, RLE segmentation).

    Coordinates are those of ``detections`` (the original image's pixels, for `predict`).
    ``category_ids`` maps model labels (1..C) to the dataset's category ids; identity when
    None. Masks are binarised at ``mask_threshold`` and RLE-encoded with str counts, so the
    entries go to JSON as they are.
    """
    det = as_detections(detections)
    rles = encode_masks(det.masks, mask_threshold) if det.masks is not None else None
    entries = []
    for k in range(len(det)):
        x1, y1, x2, y2 = (float(v) for v in det.boxes[k])
        label = int(det.labels[k])
        entry: dict[str, Any] = {
            "image_id": int(image_id),
            "category_id": int(category_ids[label]) if category_ids is not None else label,
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "score": round(float(det.scores[k]), 5),
        }
        if rles is not None:
            entry["segmentation"] = {"size": [int(v) for v in rles[k]["size"]],
                                     "counts": rles[k]["counts"]}  # fmt: skip
        entries.append(entry)
    return entries


def write_coco_results(entries: Sequence[dict], path: Path) -> Path:
    """A COCO results JSON file (a list of entries), atomically."""
    return write_json(list(entries), path)
