"""What happened on each image at the 1-FP-per-image operating point, and who the women are.

The per-image records answer a reader's questions (which lesions were missed, which marks are
false positives, how well the found masses are outlined) and hold every score the bootstrap
needs, so `mammorcnn compare` can pair two evaluations later without the model or the images.
They are written as per_image.json beside report.json.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.metrics.dice import DiceResult
from mammorcnn.engine.metrics.froc import lesion_scores
from mammorcnn.engine.metrics.matching import HitRule, ImageDetections, ImageLesions, hit_matrix
from mammorcnn.engine.report.bootstrap import FrocSamples

PER_IMAGE_FILE = "per_image.json"
PER_IMAGE_FORMAT = "mammorcnn-per-image"


def image_units(images: Sequence[dict]) -> tuple[list[int], str, int | None]:
    """(unit index of each image, "patient_id" or "image", number of women or None).

    Images without a ``patient_id`` are each their own unit; when no image has one, the
    unit is the image and the number of women is unknown.
    """
    index: dict[str, int] = {}
    units = []
    n_with_id = 0
    for i, image in enumerate(images):
        patient = image.get("patient_id")
        if patient is not None and str(patient) != "":
            key, n_with_id = f"p:{patient}", n_with_id + 1
        else:
            key = f"i:{i}"
        units.append(index.setdefault(key, len(index)))
    if n_with_id == 0:
        return units, "image", None
    return units, "patient_id", len(index)


def ground_truth_fingerprint(gt_coco: dict) -> str:
    """SHA-256 of what the scores depend on: the images (id, size, patient) and the lesions
    (image, category, box, mask), in file order. File names are left out, so a moved or
    renamed copy of the same annotations still compares."""
    images = [
        [img.get("id"), img.get("height"), img.get("width"), img.get("patient_id")]
        for img in gt_coco.get("images", [])
    ]
    lesions = [
        [a.get("image_id"), a.get("category_id"), a.get("bbox"), a.get("segmentation")]
        for a in gt_coco.get("annotations", [])
    ]
    text = json.dumps([images, lesions], sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def review_images(
    gt: dict,
    detections: Sequence[ImageDetections],
    lesions: Sequence[ImageLesions],
    rule: HitRule,
    threshold: float | None,
    dice: DiceResult,
) -> list[dict[str, Any]]:
    """One JSON-safe record per image of ``gt`` (as :func:`load_ground_truth` returns it).

    ``threshold`` is the operating point's score threshold (None: no mark is shown). Marks
    at the operating point are listed best first with ``index`` into the image's detections.
    """
    units, _, _ = image_units(gt["images"])
    names = {c["id"]: str(c.get("name", c["id"])) for c in gt.get("categories", [])}
    anns: dict[int, list[dict]] = {img["id"]: [] for img in gt["images"]}
    for ann in gt.get("annotations", []):
        anns[ann["image_id"]].append(ann)
    dice_of = {(o.image_index, o.lesion_index): o.dice for o in dice.per_lesion}
    cut = math.inf if threshold is None else threshold
    records = []
    for i, (image, det, les) in enumerate(zip(gt["images"], detections, lesions, strict=True)):
        best, fp_scores = lesion_scores([det], [les], rule)
        hits = hit_matrix(det, les, rule)
        shown = det.scores >= cut
        found = (hits & shown[:, None]).any(axis=0)
        lesion_list = []
        for g, ann in enumerate(anns[image["id"]]):
            lesion_list.append(
                {
                    "best_score": _clean(best[g]),
                    "found": bool(found[g]),
                    "dice": _clean(dice_of.get((i, g))),
                    "category": names.get(ann.get("category_id"), str(ann.get("category_id"))),
                    "lesion_type": ann.get("lesion_type") or ann.get("shape"),
                    "pathology": ann.get("pathology"),
                }
            )
        order = np.argsort(-det.scores, kind="stable")
        marks = [
            {
                "index": int(p),
                "score": _clean(det.scores[p]),
                "kind": "tp" if hits[p].any() else "fp",
            }
            for p in order
            if shown[p]
        ]
        fp_at_op = [m["score"] for m in marks if m["kind"] == "fp"]
        dices = [d["dice"] for d in lesion_list if d["dice"] is not None]
        records.append(
            {
                "id": image["id"],
                "file_name": str(image.get("file_name", "")),
                "patient_id": image.get("patient_id"),
                "unit": units[i],
                "laterality": image.get("laterality"),
                "view": image.get("view"),
                "lesions": lesion_list,
                "marks": marks,
                "fp_scores": sorted((float(s) for s in fp_scores), reverse=True),
                "n_missed": int((~found).sum()),
                "n_tp": sum(m["kind"] == "tp" for m in marks),
                "n_fp": len(fp_at_op),
                "max_fp_score": max(fp_at_op) if fp_at_op else None,
                "worst_dice": min(dices) if dices else None,
                "max_score": _clean(det.scores.max()) if len(det.scores) else None,
            }
        )
    return records


def samples_of(records: Sequence[dict]) -> FrocSamples:
    """The bootstrap's inputs from per-image records."""
    return FrocSamples.from_images(
        [r["unit"] for r in records],
        [[les["best_score"] for les in r["lesions"]] for r in records],
        [r["fp_scores"] for r in records],
    )


def write_per_image(
    path: Path, records: Sequence[dict], fingerprint: str, fp_rate: float, threshold: float
) -> Path:
    """per_image.json: the records, the ground truth's fingerprint and the operating point."""
    content = {
        "format": PER_IMAGE_FORMAT,
        "fingerprint": fingerprint,
        "operating_point": {
            "fp_per_image": fp_rate,
            "score_threshold": threshold if math.isfinite(threshold) else None,
        },
        "images": list(records),
    }
    atomic_write_bytes(Path(path), (json.dumps(content, allow_nan=False) + "\n").encode("utf-8"))
    return Path(path)
