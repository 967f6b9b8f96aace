"""`predictions.json`: COCO results plus which file each image id is, and how it was prepared.

A bare COCO results list says nothing about which image ``image_id`` 3 was; `predict` numbers
its inputs itself, so the file also lists its images (source path, size, preprocessing record,
output files). `evaluate --results` reads either this file or a bare COCO results list; with
the image list it matches images to the ground truth by file, so `predict` output on an
annotated folder can be scored without rerunning the model.

Only ids, paths, numbers and the preprocessing record are written: no DICOM tags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mammorcnn import __version__
from mammorcnn.data.coco import resolve_image_path
from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.engine.outputs import write_json
from mammorcnn.errors import AnnotationError

FORMAT = "mammorcnn-predictions"
FORMAT_VERSION = 1
FILE_NAME = "predictions.json"


def image_entry(
    image_id: int,
    source: Path | None,
    record: Any,
    kind: str | None = None,
    outputs: dict[str, str | None] | None = None,
    n_detections: int = 0,
) -> dict[str, Any]:
    """One ``images`` entry: the id, the source file, its original size and record."""
    height, width = record.original_shape
    return {
        "id": int(image_id),
        "file": None if source is None else str(Path(source).resolve()),
        "width": int(width),
        "height": int(height),
        "kind": kind,
        "n_detections": int(n_detections),
        "outputs": outputs or {},
        "preprocess": record.to_dict(),
    }


def write_predictions(
    path: Path,
    images: Sequence[dict],
    results: Sequence[dict],
    loaded: LoadedModel,
    settings: dict[str, Any],
    categories: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the predictions file atomically (strict JSON). ``categories``: those of the
    results when they are a scored file's rather than the model's (inference/class_match.py)."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mammorcnn_version": __version__,
        "model": {
            "weights": str(loaded.path),
            "class_names": loaded.class_names,
            "category_ids": loaded.category_ids,
            "image_size": loaded.preprocess.image_size,
        },
        "settings": settings,
        "categories": loaded.categories if categories is None else categories,
        "images": list(images),
        "results": list(results),
    }
    return write_json(payload, path, indent=1)


def _read(path: Path) -> Any:
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise AnnotationError(path, f"cannot read: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise AnnotationError(path, f"malformed JSON ({type(error).__name__})") from None


def _by_file(path: Path, data: dict, gt: dict, gt_root: Path) -> dict[int, int]:
    """Prediction image id -> ground-truth image id, matched by resolved file path."""
    gt_ids = {
        resolve_image_path(img["file_name"], gt_root).resolve(): img["id"] for img in gt["images"]
    }
    mapping: dict[int, int] = {}
    for i, entry in enumerate(data["images"]):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("file"), str)
            or not isinstance(entry.get("id"), int)
        ):
            raise AnnotationError(path, f"images[{i}]: needs 'id' and 'file'")
        gt_id = gt_ids.get(Path(entry["file"]).resolve())
        if gt_id is None:
            raise AnnotationError(
                path, f"images[{i}]: {entry['file']} is not an image of the ground truth"
            )
        mapping[entry["id"]] = gt_id
    return mapping


def _category_pairs(path: Path, data: dict, gt: dict, gt_path: Path) -> dict[int, int] | None:
    """The predictions file's category id -> the ground truth's, or None where the ids are
    the same (or the file lists no categories: scored by id, as COCO results are). Other ids
    pair by name and the model's other classes are dropped: a model of several finding types
    scored on a file of fewer (inference/class_match.py)."""
    categories, gt_categories = data.get("categories"), gt.get("categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, dict) for c in categories):
        return None
    if [c.get("id") for c in categories] == [c.get("id") for c in gt_categories]:
        return None
    from mammorcnn.engine.inference.class_match import paired_categories

    return paired_categories(categories, gt_categories, path, gt_path, AnnotationError)


def read_results(paths: Path | Sequence[Path], gt: dict, gt_path: Path) -> list[dict]:
    """COCO results from bare lists, or from predictions files (ids mapped by file).

    Several files are scored together (the folds of a cross-validation, each predicted on its
    own): every ground-truth image must then be predicted by exactly one of the predictions
    files. The entries themselves are checked later by the evaluator (ids, boxes, RLEs).
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    out: list[dict] = []
    predicted_by: dict[int, Path] = {}
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise AnnotationError(path, "is given twice; each part of the set once")
        seen.add(path.resolve())
        data = _read(path)
        if isinstance(data, list):
            out += data
            continue
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AnnotationError(
                path, "neither a COCO results list nor a mammorcnn predictions file"
            )
        results, images = data.get("results"), data.get("images")
        if not isinstance(results, list) or not isinstance(images, list):
            raise AnnotationError(path, "'results' and 'images' must be lists")
        mapping = _by_file(path, data, gt, Path(gt_path).parent)
        pairs = _category_pairs(path, data, gt, gt_path)
        for gt_id in mapping.values():
            if predicted_by.get(gt_id, path) != path:
                raise AnnotationError(
                    path,
                    f"ground-truth image id {gt_id} was predicted in {predicted_by[gt_id]} too",
                )
            predicted_by[gt_id] = path
        for i, entry in enumerate(results):
            image_id = entry.get("image_id") if isinstance(entry, dict) else None
            if not isinstance(image_id, int) or image_id not in mapping:
                raise AnnotationError(path, f"results[{i}]: image_id {image_id!r} not in 'images'")
            if pairs is not None:  # paired by name; the model's other classes are not scored
                if entry.get("category_id") not in pairs:
                    continue
                entry = {**entry, "category_id": pairs[entry["category_id"]]}
            out.append({**entry, "image_id": mapping[image_id]})
    if predicted_by:
        missing = sorted({img["id"] for img in gt["images"]} - set(predicted_by))
        if missing:
            where = paths[0] if len(paths) == 1 else Path(gt_path)
            raise AnnotationError(
                where,
                f"{len(missing)} ground-truth image(s) were not predicted (first: id "
                f"{missing[0]}); run predict on every image of the set",
            )
    return out


def read_records(paths: Path | Sequence[Path], gt: dict, gt_path: Path) -> dict[int, Any]:
    """Ground-truth image id -> the PreprocessRecord a predictions file saved for it (bare
    COCO results lists have none): what maps saved boxes back to the model's pixels."""
    from mammorcnn.data.preprocess.record import PreprocessRecord

    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    records: dict[int, Any] = {}
    for path in paths:
        data = _read(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            continue
        mapping = _by_file(path, data, gt, Path(gt_path).parent)
        for entry in data["images"]:
            preprocess = entry.get("preprocess")
            if not isinstance(preprocess, dict):
                raise AnnotationError(path, f"image {entry['id']}: no preprocessing record")
            records[mapping[entry["id"]]] = PreprocessRecord.from_dict(preprocess)
    return records


def read_settings(paths: Path | Sequence[Path]) -> dict[Path, dict]:
    """Each predictions file's inference settings (bare COCO results lists: none)."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    settings = {}
    for path in paths:
        data = _read(path)
        if isinstance(data, dict) and isinstance(data.get("settings"), dict):
            settings[path] = data["settings"]
    return settings
