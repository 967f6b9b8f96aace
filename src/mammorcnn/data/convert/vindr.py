"""VinDr-Mammo: ``finding_annotations.csv`` + ``images/<study_id>/<image_id>.dicom`` -> COCO
with box-only annotations (the dataset has boxes, no outlines).

Every image listed in the CSV is kept; one without a selected finding is a negative, marked
``has_other_findings`` when it holds findings of other kinds. A row is one lesion, whatever
number of categories it lists (``['Mass', 'Suspicious Calcification']``): one annotation, of
the first selected type in ``lesion_types`` order, with every category kept in
``finding_categories``. Image sizes come from the DICOM headers (the CSV's own height/width,
when present, must agree). Patients: VinDr-Mammo has no patient id; each study is one exam of
one woman, so ``patient_id`` is the ``study_id``. Official split: the ``split`` column
(training/test). Pathology (no biopsy results): ``finding_birads`` 1-3 benign, 4-5 malignant.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

from mammorcnn.data.convert.builder import CocoBuilder
from mammorcnn.data.convert.common import birads_pathology
from mammorcnn.data.convert.files import (
    DICOM_SUFFIXES,
    image_size,
    index_files,
    read_table_lines,
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
SPLITS = {"training": "train", "train": "train", "test": "test"}
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
    rows = read_table_lines(table)
    require_columns(table, [row for _, row in rows], COLUMNS)
    files = index_files(table.parent, DICOM_SUFFIXES + (".png",)).by_stem
    for n, row in rows:
        key, where = row["image id"], f"{table} (line {n})"
        if key in b.bad:
            continue
        if key not in b.images and not _add_image(b, key, where, row, files.get(key, [])):
            continue
        names = parse_categories(row["finding categories"])
        if names is None:
            b.fail(key, where, f"finding_categories {row['finding categories']!r} is not a list")
            continue
        _add_finding(b, key, where, row, names)


def _add_image(
    b: CocoBuilder, key: str, where: str, row: dict[str, str], found: list[Path]
) -> bool:
    """Register the row's image from its DICOM header; False (and reported) when it fails."""
    if not key or not row["study id"] or len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        b.fail(
            key or None,
            where,
            f"image {key!r}: {what} image file named {key}.dicom",
            cause=f"{what} image file for the row's image_id" if what == "no" else None,
        )
        return False
    try:
        h, w = image_size(found[0])
    except InputError as e:
        b.fail(key, e.path or where, e.problem)
        return False
    if (row.get("height") or row.get("width")) and _size(row) != (h, w):
        csv_size = f"{row.get('width')}x{row.get('height')}"
        b.fail(key, where, f"CSV says {csv_size} (width x height) but the DICOM is {w}x{h}")
        return False
    split = SPLITS.get(row.get("split", "").strip().lower())
    b.add_image(
        key,
        found[0],
        h,
        w,
        patient_id=row["study id"],
        laterality=row.get("laterality") or None,
        view=b.view(row.get("view position")),
        split=split,
    )
    return True


def _add_finding(
    b: CocoBuilder, key: str, where: str, row: dict[str, str], names: list[str]
) -> None:
    """One row, one lesion: one annotation of its first selected type, else a note."""
    found = [n for n in names if n.lower() != "no finding"]
    types = [CATEGORIES.get(n.lower()) or n.lower().replace(" ", "_") for n in found]
    chosen = sorted({t for t in types if t in b.lesion_types}, key=b.lesion_types.index)
    for name, lesion in zip(found, types):  # counts the unselected ones, by name
        b.wants(lesion, name, None if chosen else key)
    if not chosen:
        return
    lesion = chosen[0]
    pathology = birads_pathology(row.get("finding birads", ""))
    label, box = b.label(lesion, pathology), _box(row)
    extra = {"lesion_type": lesion, "pathology": pathology, "finding_categories": found}
    if label is None:
        b.fail(key, where, f"finding_birads {row.get('finding birads')!r} is unusable")
    elif box is None:
        b.fail(key, where, f"{found}: box xmin/ymin/xmax/ymax missing or not numbers")
    elif not b.add_box(key, box, label, **extra):
        b.fail(key, where, f"{found}: box {box} is empty or outside the image")
