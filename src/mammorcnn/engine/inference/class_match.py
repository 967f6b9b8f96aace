"""Which category of a COCO file each of a model's classes is.

A model trained on several finding types is often scored on a file of fewer: mini-MIAS
converted with three types for training and the mass-only test file, or a VinDr-Mammo model
of masses and calcifications on INbreast's masses. When the file's category ids are the
model's, the ids decide (as they always have). Otherwise the names decide: every category of
the file must be one of the model's classes, named alike; the model's other classes are not
scored and their detections are dropped, as ``evaluate --category`` drops them. Anything else
is refused, naming both sides, since scoring a model against classes it never learned would
only produce wrong figures. The same pairing serves a model's weights (`predict_dataset`) and
a predictions file it wrote (`read_results`), whose ``categories`` are the model's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mammorcnn.errors import CheckpointError, InputError


def paired_categories(
    model_categories: list[dict[str, Any]],
    file_categories: list[dict[str, Any]],
    model_source: Path,
    gt_path: Path,
    error: type[InputError] = CheckpointError,
) -> dict[int, int]:
    """The model's category id -> the file's, for the categories the file scores; a model
    category missing from the result is one the file does not have. ``error`` names
    ``model_source`` (CheckpointError for weights, AnnotationError for a predictions file)."""
    model_ids = [c.get("id") for c in model_categories]
    file_ids = [c.get("id") for c in file_categories]
    if file_ids == model_ids:
        return {i: i for i in model_ids}
    model_names = [_name(c) for c in model_categories]
    file_names = [_name(c) for c in file_categories]
    id_of = dict(zip(model_names, model_ids))
    unmatched = [name for name in file_names if name is None or name not in id_of]
    repeated = [
        n for names in (model_names, file_names) for n, k in Counter(names).items() if k > 1
    ]
    if unmatched or repeated or not file_categories:
        model = [{"id": c.get("id"), "name": c.get("name")} for c in model_categories]
        found = [{"id": c.get("id"), "name": c.get("name")} for c in file_categories]
        why = (
            f"no class of the model is named {unmatched[0]!r}"
            if unmatched
            else "names repeat, so they cannot pair classes"
            if repeated
            else "the file has no category"
        )
        raise error(
            model_source,
            f"the model's classes {model} differ from the categories of {gt_path}: {found} "
            f"({why}; the file's categories must be the model's ids or some of its class names)",
        )
    return {id_of[c["name"]]: c["id"] for c in file_categories}


def _name(category: dict[str, Any]) -> str | None:
    """A category's name; None for a missing or non-string one (from a malformed file),
    which pairs with nothing."""
    name = category.get("name")
    return name if isinstance(name, str) else None


def scored_detections(output: dict[str, torch.Tensor], labels: Mapping[int, int]) -> dict:
    """One image's model output without the detections of classes the file does not score."""
    wanted = torch.tensor(sorted(labels), device=output["labels"].device)
    keep = torch.isin(output["labels"], wanted)
    return {key: value[keep] for key, value in output.items()}
