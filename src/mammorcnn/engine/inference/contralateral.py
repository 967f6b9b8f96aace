"""Contralateral suppression: lower a detection that the other breast repeats.

A radiologist reads the two breasts of a woman side by side: glandular tissue, the pectoral
muscle and film labels are roughly mirror-symmetric, a mass is not. A detector trained on a
few dozen masses marks dense tissue in both breasts alike, and on mini-MIAS such marks were
most of its false positives (docs/results.md). This rule compares each detection with the
detections of the same woman's other breast in the same view and lowers its score by how
strongly the other breast has a detection of its class at the mirrored place:

    score' = score * (1 - weight * max_j score_j * exp(-d_j^2 / (2 radius^2)))

where ``d_j`` is the distance between the two box centres in breast coordinates: (0, 0) at
the top of the breast's box on the chest-wall side, (1, 1) at its far corner, which is where
preprocessing already put both breasts (chest wall on the left, cropped to the breast). The
other breast's scores are taken before the rule, so the result does not depend on order.

No library does this (torchvision's detection post-processing is per image). Images pair by
``patient_id`` and view with opposite laterality, one image a side; anything else (one breast
only, repeat views, unknown laterality) is left as it is. docs/evaluation.md, "Contralateral
suppression".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# the rule pairs images as the other-breast input channel does
from mammorcnn.data.breast_pairs import pair_contralateral


def breast_coordinates(boxes_model: np.ndarray, breast_box_model: Sequence[float]) -> np.ndarray:
    """(N, 2) box centres in breast coordinates from (N, 4) x1,y1,x2,y2 boxes in model pixels
    (chest wall on the left) and the breast's box in the same pixels."""
    x0, y0, x1, y1 = (float(v) for v in breast_box_model)
    width, height = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    boxes = np.asarray(boxes_model, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([(cx - x0) / width, (cy - y0) / height], axis=1)


def mirrored_support(
    centres: np.ndarray,
    labels: np.ndarray,
    other_centres: np.ndarray,
    other_scores: np.ndarray,
    other_labels: np.ndarray,
    radius: float,
) -> np.ndarray:
    """For each detection, max_j score_j * exp(-d_j^2 / (2 radius^2)) over the other breast's
    detections j of its label (0 where there are none)."""
    support = np.zeros(len(centres), dtype=np.float64)
    if len(centres) == 0 or len(other_centres) == 0:
        return support
    d2 = ((centres[:, None, :] - other_centres[None, :, :]) ** 2).sum(-1)
    weight = np.exp(-d2 / (2 * radius**2)) * np.asarray(other_scores)[None, :]
    weight = np.where(np.asarray(labels)[:, None] == np.asarray(other_labels)[None, :], weight, 0)
    return weight.max(1)


def suppressed_scores(scores: np.ndarray, support: np.ndarray, weight: float) -> np.ndarray:
    """score * (1 - weight * support): the rule's new scores."""
    return np.asarray(scores, dtype=np.float64) * (1 - weight * support)


def check_settings(weight: float, radius: float) -> None:
    """ValueError unless 0 <= weight <= 1 and radius > 0 (scores stay within [0, 1])."""
    if not (0 <= weight <= 1 and radius > 0 and math.isfinite(radius)):
        raise ValueError(
            f"contralateral suppression needs 0 <= weight <= 1 and radius > 0, got weight "
            f"{weight} and radius {radius}"
        )


def breast_box_model(record: Any) -> tuple[float, float, float, float]:
    """The breast's box in model pixels (chest wall on the left); the resized image's extent
    when preprocessing found no breast."""
    if record.breast_box is not None:
        return tuple(float(v) for v in record.boxes_to_model(np.array([record.breast_box]))[0])
    (top, left), (height, width) = record.pad, record.resized_shape
    return float(left), float(top), float(left + width), float(top + height)


def breast_centres(boxes_original: np.ndarray, record: Any) -> np.ndarray:
    """(N, 2) breast coordinates of (N, 4) x1,y1,x2,y2 boxes in the original image's pixels."""
    boxes = np.asarray(boxes_original, dtype=np.float64).reshape(-1, 4)
    return breast_coordinates(record.boxes_to_model(boxes), breast_box_model(record))


Side = tuple[np.ndarray, np.ndarray, np.ndarray]  # breast-coordinate centres, scores, labels


def pair_scores(first: Side, second: Side, weight: float, radius: float) -> tuple[np.ndarray, ...]:
    """New scores of two contralateral images' detections, each side given as (centres in
    breast coordinates, scores, labels); both computed from the scores before. The callers
    check ``weight`` and ``radius`` once (:func:`check_settings`), not at every pair."""
    (centres_a, scores_a, labels_a), (centres_b, scores_b, labels_b) = first, second
    support_a = mirrored_support(centres_a, labels_a, centres_b, scores_b, labels_b, radius)
    support_b = mirrored_support(centres_b, labels_b, centres_a, scores_a, labels_a, radius)
    return (
        suppressed_scores(scores_a, support_a, weight),
        suppressed_scores(scores_b, support_b, weight),
    )


def suppress_results(
    results: Sequence[Mapping[str, Any]],
    images: Sequence[Mapping[str, Any]],
    records: Mapping[int, Any],
    weight: float,
    radius: float,
) -> list[dict]:
    """COCO results (original pixels) with the rule applied; each changed entry keeps its
    earlier score as ``score_before_contralateral``.

    ``images`` are the ground-truth image entries (``id``, ``patient_id``, ``view``,
    ``laterality``); ``records`` maps image id -> its PreprocessRecord, whose laterality
    (from the tags or the image content) is used where the entry has none, and which maps
    boxes to breast coordinates.
    """
    check_settings(weight, radius)
    sides = []
    for image in images:
        record = records.get(int(image["id"]))
        side = image.get("laterality") or (record.laterality if record is not None else None)
        sides.append({**image, "laterality": side})
    pairs = {a: b for a, b in pair_contralateral(sides).items() if a in records and b in records}
    by_image: dict[int, list[int]] = defaultdict(list)
    for k, entry in enumerate(results):
        by_image[int(entry["image_id"])].append(k)

    def detections(image_id: int) -> Side:
        entries = [results[k] for k in by_image[image_id]]
        xywh = np.array([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scores = np.array([e["score"] for e in entries], dtype=np.float64)
        labels = np.array([e["category_id"] for e in entries])
        return breast_centres(xyxy, records[image_id]), scores, labels

    out = [dict(entry) for entry in results]
    for image_id, other_id in pairs.items():
        if image_id > other_id or not by_image.get(image_id) or not by_image.get(other_id):
            continue  # each pair once
        new = pair_scores(detections(image_id), detections(other_id), weight, radius)
        for ids, new_scores in zip((image_id, other_id), new):
            for k, score in zip(by_image[ids], new_scores):
                rounded = round(float(score), 5)  # as coco_results writes scores
                if rounded != out[k]["score"]:
                    out[k]["score_before_contralateral"] = out[k]["score"]
                    out[k]["score"] = rounded
    return out
