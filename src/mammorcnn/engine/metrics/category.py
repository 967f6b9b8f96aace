"""Scores of one category of a multi-class model: its lesions and its predictions only.

Why: the FROC is class-agnostic (docs/evaluation.md), which answers "does the model find the
findings" for a model trained on masses alone. A model trained on several finding types
(``convert --lesion-types mass,architectural_distortion``) is still read the way papers report
it, one FROC per type: masses against mass marks. Restricting the ground truth and the
predictions to one category gives exactly the figures of the same model evaluated on a file
converted with that type alone: the other types' lesions leave the ground truth and their images
are marked ``has_other_findings``, as `convert` marks the images of unselected types
(docs/data.md), so the second FROC without those images still means the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from mammorcnn.engine.metrics.other_findings import OTHER_FINDINGS
from mammorcnn.errors import ConfigError


def category_id_named(gt_coco: dict, name: str, source: str) -> int:
    """The id of the category called ``name``; a one-line error listing the names otherwise."""
    categories = gt_coco.get("categories") or []
    ids = [c.get("id") for c in categories if isinstance(c, dict) and c.get("name") == name]
    if len(ids) != 1:
        names = ", ".join(repr(c.get("name")) for c in categories if isinstance(c, dict))
        problem = "no category" if not ids else f"{len(ids)} categories"
        raise ConfigError(f"{source}: {problem} named {name!r} (categories: {names or 'none'})")
    return ids[0]


def one_category(
    gt_coco: dict, predictions: Sequence[dict], name: str, source: str
) -> tuple[dict, list[dict]]:
    """(ground truth, predictions) of the category called ``name`` alone."""
    wanted = category_id_named(gt_coco, name, source)
    names = {c.get("id"): c.get("name") for c in gt_coco["categories"] if isinstance(c, dict)}
    annotations = gt_coco.get("annotations", [])
    other: dict[object, list[str]] = {}  # image id -> the other categories' names, as convert
    for a in annotations:
        if a.get("category_id") != wanted:
            found = other.setdefault(a.get("image_id"), [])
            found += [str(names.get(a.get("category_id")))]
    images = [
        _with_other_findings(image, other.get(image.get("id"))) for image in gt_coco["images"]
    ]
    gt = {
        **gt_coco,
        "images": images,
        "annotations": [a for a in annotations if a.get("category_id") == wanted],
        "categories": [c for c in gt_coco["categories"] if c.get("id") == wanted],
    }
    kept = [p for p in predictions if not isinstance(p, dict) or p.get("category_id") == wanted]
    return gt, kept


def scored_part(
    gt_coco: dict, predictions: Sequence[dict], name: str | None, source: str
) -> tuple[dict, list[dict], str]:
    """(ground truth, predictions, its name in reports) of what is scored: everything when
    ``name`` is None, else the category called ``name`` alone (the name says so)."""
    if name is None:
        return gt_coco, list(predictions), source
    gt, kept = one_category(gt_coco, predictions, name, source)
    return gt, kept, f"{source} (category {name!r} alone)"


def _with_other_findings(image: dict, found: list[str] | None) -> dict:
    """``image`` with ``found`` added to its has_other_findings list (convert's form)."""
    if not found:
        return image
    before = image.get(OTHER_FINDINGS)
    listed = list(before) if isinstance(before, list) else []
    return {**image, OTHER_FINDINGS: sorted(set(listed) | set(found))}
