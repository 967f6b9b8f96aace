"""Which category of a COCO file each of a model's classes is.

A model trained on several finding types is often scored on a file of fewer: mini-MIAS
converted with three types for training and the mass-only test file, or a VinDr-Mammo model
of masses and calcifications on INbreast's masses. When the file's category ids are the
model's, the ids decide (as they always have). Otherwise the names decide: every category of
the file must be one of the model's classes, named alike; the model's other classes are not
scored and their detections are dropped, as ``evaluate --category`` drops them. Anything else
is refused, naming both sides, since scoring a model against classes it never learned would
only produce wrong figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mammorcnn.errors import CheckpointError


def file_category_of_labels(
    class_names: list[str],
    category_ids: list[int],
    file_categories: list[dict[str, Any]],
    weights: Path,
    gt_path: Path,
) -> dict[int, int]:
    """Model label (1..C) -> the file's category id, for the labels the file scores; a
    label missing from the result is one of the model's classes the file does not have."""
    file_ids = [c["id"] for c in file_categories]
    if file_ids == list(category_ids):
        return {k + 1: cid for k, cid in enumerate(category_ids)}
    file_names = [c.get("name") for c in file_categories]
    label_of = {name: k + 1 for k, name in enumerate(class_names)}
    unmatched = [name for name in file_names if name not in label_of]
    repeated = [
        n for names in (class_names, file_names) for n, k in Counter(names).items() if k > 1
    ]
    if unmatched or repeated or not file_categories:
        model = [{"id": i, "name": n} for i, n in zip(category_ids, class_names)]
        found = [{"id": c["id"], "name": c.get("name")} for c in file_categories]
        why = (
            f"no class of the model is named {unmatched[0]!r}"
            if unmatched
            else "names repeat, so they cannot pair classes"
            if repeated
            else "the file has no category"
        )
        raise CheckpointError(
            weights,
            f"the model's classes {model} differ from the categories of {gt_path}: {found} "
            f"({why}; the file's categories must be the model's ids or some of its class names)",
        )
    return {label_of[c["name"]]: c["id"] for c in file_categories}


def scored_detections(output: dict[str, torch.Tensor], labels: Mapping[int, int]) -> dict:
    """One image's model output without the detections of classes the file does not score."""
    wanted = torch.tensor(sorted(labels), device=output["labels"].device)
    keep = torch.isin(output["labels"], wanted)
    return {key: value[keep] for key, value in output.items()}
