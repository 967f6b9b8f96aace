"""VinDr-Mammo: ``finding_annotations.csv`` + ``images/<study_id>/<image_id>.dicom`` -> COCO
with box-only annotations (the dataset has boxes, no outlines).

Every image listed in the CSV is kept; one without a selected finding is a negative. Image
sizes come from the DICOM headers (the CSV's own height/width, when present, must agree).
Patients: VinDr-Mammo has no patient id; each study is one exam of one woman, so
``patient_id`` is the ``study_id``. Pathology (no biopsy results): ``finding_birads`` 1-3
benign, 4-5 malignant.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

from mammorcnn.data.convert.common import CocoBuilder, birads_pathology
from mammorcnn.data.convert.files import (
    DICOM_SUFFIXES,
    image_size,
    index_files,
    read_table,
    require_columns,
)
from mammorcnn.errors import AnnotationError, InputError

CATEGORIES = {
    "mass": "mass",
    "suspicious calcification": "calcification",
    "architectural distortion": "architectural_distortion",
    "asymmetry": "asymmetry",
    "focal asymmetry": "asymmetry",
    "global asymmetry": "asymmetry",
}
COLUMNS = ("image id", "study id", "finding categories", "xmin", "ymin", "xmax", "ymax")


def parse_categories(text: str) -> list[str] | None:
    """``"['Mass', 'Suspicious Calcification']"`` -> names; None if it is not such a list."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value]


def _box(row: dict[str, str]) -> list[float] | None:
    try:
        box = [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    except ValueError:
        return None
    return box if all(math.isfinite(v) for v in box) else None


def _size(row: dict[str, str]) -> tuple[int, int] | None:
    try:
        return int(float(row["height"])), int(float(row["width"]))
    except (KeyError, ValueError, OverflowError):
        return None


def _find_csv(src: Path) -> Path:
    if src.is_file():
        return src
    found = sorted(src.rglob("finding_annotations.csv"))
    if not found:
        raise AnnotationError(src, "no finding_annotations.csv found (VinDr-Mammo layout)")
    return found[0]


def convert_vindr(src: Path, b: CocoBuilder) -> None:
    """Fill ``b`` from a VinDr-Mammo folder (or its finding_annotations.csv)."""
    table = _find_csv(src)
    rows = read_table(table)
    require_columns(table, rows, COLUMNS)
    files = index_files(table.parent, DICOM_SUFFIXES + (".png",)).by_stem
    for n, row in enumerate(rows, 2):  # line 1 is the header
        key, where = row["image id"], f"{table} (row {n})"
        if key in b.bad:
            continue
        if key not in b.images:
            found = files.get(key, [])
            if not key or not row["study id"] or len(found) != 1:
                what = "no" if not found else f"{len(found)}"
                b.fail(key or None, where, f"image {key!r}: {what} image file named {key}.dicom")
                continue
            try:
                h, w = image_size(found[0])
            except InputError as e:
                b.fail(key, e.path or where, e.problem)
                continue
            if (row.get("height") or row.get("width")) and _size(row) != (h, w):
                csv_size = f"{row.get('width')}x{row.get('height')}"
                b.fail(key, where, f"CSV says {csv_size} (width x height) but the DICOM is {w}x{h}")
                continue
            extra = {"laterality": row.get("laterality"), "view": row.get("view position")}
            extra = {k: v for k, v in extra.items() if v}
            b.add_image(key, found[0], h, w, patient_id=row["study id"], **extra)
        names = parse_categories(row["finding categories"])
        if names is None:
            b.fail(key, where, f"finding_categories {row['finding categories']!r} is not a list")
            continue
        for name in names:
            if name.lower() == "no finding" or not b.wants(CATEGORIES.get(name.lower()), name):
                continue
            lesion = CATEGORIES[name.lower()]
            pathology = birads_pathology(row.get("finding birads", ""))
            label, box = b.label(lesion, pathology), _box(row)
            if label is None:
                b.fail(key, where, f"finding_birads {row.get('finding birads')!r} is unusable")
            elif box is None:
                b.fail(key, where, f"{name}: box xmin/ymin/xmax/ymax missing or not numbers")
            elif not b.add_box(key, box, label, lesion_type=lesion, pathology=pathology):
                b.fail(key, where, f"{name}: box {box} is empty or outside the image")
