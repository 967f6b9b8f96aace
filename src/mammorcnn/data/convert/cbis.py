"""CBIS-DDSM: mass/calc case description CSVs + the TCIA DICOM download -> COCO RLE masks.

The CSVs' paths (``Mass-Training_P_00001_LEFT_CC/<study UID>/<series UID>/000000.dcm``) do not
exist in a TCIA download, which names folders ``<date>-DDSM-<digits>/1.000000-full mammogram
images-<digits>/1-1.dcm``. What survives is the first part, the case folder, so a path is
resolved as: the literal path under ``src`` if it exists, else the DICOMs below the folder of
that name, narrowed to the CSV's SeriesInstanceUID when the headers carry it. The ROI mask and
the cropped image often share a series, under names that do not say which is which (and the
two CSV columns are sometimes swapped): the mask is the candidate whose pixels are binary.

A mask whose size differs from its image is resized (nearest neighbour) when the aspect ratios
agree within 1 %, and reported otherwise. Patients: the ``patient_id`` column (``P_00001``).

Official split: the case folder says it (``Mass-Training``, ``Calc-Test``; else the CSV's name
``*_train_set.csv``). One mammogram appears once per lesion type (``Mass-...`` and ``Calc-...``
copies): copies in the same split are merged by (patient, side, view) so that both kinds of
lesion land on one image; copies in different splits stay separate images, each with its own
split's lesions only (a test lesion on a training image would leak the test set), and each
marked with the findings that the other copy holds (``has_other_findings``). CBIS-DDSM has no
lesion-free images, so there are no negatives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mammorcnn.data.convert.builder import CocoBuilder
from mammorcnn.data.convert.common import normalize_pathology
from mammorcnn.data.convert.files import dicom_header, image_size, index_files, read_table_lines
from mammorcnn.data.convert.files import require_columns as _require
from mammorcnn.data.convert.output import relative_to
from mammorcnn.data.io import read_image
from mammorcnn.errors import AnnotationError, InputError

COLUMNS = (
    "patient id",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "pathology",
    "image file path",
    "cropped image file path",
    "roi mask file path",
)
LESIONS = {"mass": "mass", "calcification": "calcification", "calc": "calcification"}
ASPECT_TOLERANCE = 0.01


class _Resolver:
    """CSV path -> candidate DICOM files under the download root (headers read once)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = index_files(root, (".dcm",)).by_folder
        self._series: dict[Path, str | None] = {}

    def series(self, path: Path) -> str | None:
        if path not in self._series:
            try:
                self._series[path] = str(dicom_header(path).get("SeriesInstanceUID", "")) or None
            except InputError:
                self._series[path] = None
        return self._series[path]

    def candidates(self, rel: str) -> list[Path]:
        parts = [p.strip() for p in rel.strip().replace("\\", "/").split("/") if p.strip()]
        if not parts:
            return []
        literal = self.root.joinpath(*parts)
        if literal.is_file():
            return [literal]
        files = self.index.get(parts[0], [])
        same = [f for f in files if self.series(f) in parts[1:-1]]
        return same or files


def _binary_mask(path: Path) -> np.ndarray | None:
    """The mask if the image has exactly two grey levels (lesion = the brighter), else None."""
    px = read_image(path).pixels
    lo, hi = px.min(), px.max()
    if hi == lo or not np.all((px == lo) | (px == hi)):
        return None
    return px == hi


def _fit(mask: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """Nearest-neighbour resize to (h, w) if the aspect ratio agrees, else None."""
    mh, mw = mask.shape
    if abs(mh / mw - h / w) > ASPECT_TOLERANCE * (h / w):
        return None
    rows = np.minimum(((np.arange(h) + 0.5) * mh / h).astype(int), mh - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * mw / w).astype(int), mw - 1)
    return mask[np.ix_(rows, cols)]


def _find_csvs(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    found = sorted(p for p in src.rglob("*.csv") if "case_description" in p.name.lower())
    if not found:
        raise AnnotationError(src, "no CBIS-DDSM case description CSV (*case_description*.csv)")
    return found


def _roi_mask(res: _Resolver, row: dict[str, str], h: int, w: int) -> tuple[np.ndarray, str]:
    """Find, read and fit the ROI mask of one CSV row; raises _RowProblem."""
    cands = res.candidates(row["roi mask file path"])
    cands += [p for p in res.candidates(row["cropped image file path"]) if p not in cands]
    if not cands:
        raise _RowProblem(f"no DICOM found for ROI mask {row['roi mask file path']!r}")
    sizes = {}
    for p in cands:
        try:
            sizes[p] = image_size(p)
        except InputError:
            sizes[p] = (0, 0)
    unreadable = []
    for path in sorted(cands, key=lambda p: -sizes[p][0] * sizes[p][1]):
        try:
            mask = _binary_mask(path)
        except InputError as e:  # another candidate may still be the mask
            unreadable.append(f"{e.path}: {e.problem}")
            continue
        if mask is None:
            continue
        fitted = mask if mask.shape == (h, w) else _fit(mask, h, w)
        if fitted is None:
            raise _RowProblem(
                f"ROI mask {path} is {mask.shape[1]}x{mask.shape[0]} but its image is {w}x{h} "
                "(aspect ratios differ; cannot be resized safely)"
            )
        return fitted, str(path)
    why = f"; unreadable: {unreadable}" if unreadable else ""
    raise _RowProblem(f"none of {[str(p) for p in cands]} is a binary ROI mask{why}")


class _RowProblem(Exception):
    """One CSV row cannot be converted (turned into an AnnotationError or a skip)."""


def official_split(table: Path, image_path: str) -> str | None:
    """``train``/``test`` from the case folder (``Calc-Test_P_...``), else the CSV's name."""
    case = image_path.strip().replace("\\", "/").split("/")[0].lower()
    for text in (case, table.name.lower()):
        if "training" in text or "_train_set" in text:
            return "train"
        if "test" in text:
            return "test"
    return None


class _Copies:
    """Which lesion types each copy of a mammogram holds, to mark the copies of other splits."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, set[str]]] = {}  # mammogram -> image key -> types
        self.cases: dict[str, dict[str, str]] = {}  # mammogram -> image key -> case folder

    def add(self, mammogram: str, key: str, lesion: str, case: str) -> None:
        self.types.setdefault(mammogram, {}).setdefault(key, set()).add(lesion)
        self.cases.setdefault(mammogram, {}).setdefault(key, case)

    def mark(self, b: CocoBuilder) -> None:
        """Every copy gets the types found on the others; split copies name each other."""
        for mammogram, per_key in self.types.items():
            for key in per_key:
                for other, types in per_key.items():
                    for lesion in types if other != key else ():
                        b.note_other(key, lesion)
                if key in b.images and len(per_key) > 1:
                    cases = [c for k, c in self.cases[mammogram].items() if k != key]
                    b.images[key]["other_split_copies"] = sorted(set(cases))


def convert_cbis(src: Path, b: CocoBuilder) -> None:
    """Fill ``b`` from a CBIS-DDSM download folder (or one of its case description CSVs)."""
    res = _Resolver(src if src.is_dir() else src.parent)
    copies = _Copies()
    for table in _find_csvs(src):
        rows = read_table_lines(table)
        _require(table, [row for _, row in rows], COLUMNS)
        for n, row in rows:
            lesion = LESIONS.get(row["abnormality type"].lower())
            side = {"LEFT": "L", "RIGHT": "R"}.get(row["left or right breast"].upper(), "")
            view = b.view(row["image view"])
            split = official_split(table, row["image file path"])
            mammogram = f"{row['patient id']}_{side}_{view or row['image view'].upper()}"
            key = mammogram if split is None else f"{mammogram}/{split}"
            case = row["image file path"].strip().replace("\\", "/").split("/")[0]
            copies.add(mammogram, key, lesion or "unknown", case)
            if not b.wants(lesion, row["abnormality type"] or "(no abnormality type)", key):
                continue
            if key in b.bad:
                continue
            try:
                if not (row["patient id"] and side and row["image view"]):
                    raise _RowProblem("patient_id, side (LEFT/RIGHT) or image view is missing")
                _convert_row(b, res, key, row, lesion, (side, view, split))
            except _RowProblem as e:
                b.fail(key, f"{table} (line {n})", str(e))
            except InputError as e:
                b.fail(key, f"{table} (line {n})", f"{e.path}: {e.problem}")
    copies.mark(b)
    _note_patients_in_both_splits(b)


def _note_patients_in_both_splits(b: CocoBuilder) -> None:
    """The official split is by case, not by patient: say how many women are in both."""
    splits: dict[str, set[str]] = {}
    for key, img in b.images.items():
        if key not in b.bad and img.get("split"):
            splits.setdefault(img["patient_id"], set()).add(img["split"])
    if n := sum(len(s) > 1 for s in splits.values()):
        b.report.note(
            f"{n} patient(s) have images in both official splits (CBIS-DDSM splits by case, "
            "not by patient; `mammorcnn split` splits by patient)"
        )


def _convert_row(
    b: CocoBuilder,
    res: _Resolver,
    key: str,
    row: dict[str, str],
    lesion: str,
    side_view_split: tuple[str, str | None, str | None],
) -> None:
    """Add one CSV row's image (first time) and its lesion mask."""
    side, view, split = side_view_split
    if key not in b.images:
        found = res.candidates(row["image file path"])
        if len(found) != 1:
            what = "no DICOM" if not found else f"{len(found)} DICOMs ({[str(f) for f in found]})"
            raise _RowProblem(f"{what} found for image {row['image file path']!r}")
        h, w = image_size(found[0])
        case = row["image file path"].strip().replace("\\", "/").split("/")[0]
        b.add_image(
            key,
            found[0],
            h,
            w,
            patient_id=row["patient id"],
            laterality=side,
            view=view,
            split=split,
            cbis_case=case,
        )
    img = b.images[key]
    pathology = normalize_pathology(row["pathology"])
    label = b.label(lesion, pathology)
    if label is None:
        raise _RowProblem(f"unknown pathology {row['pathology']!r}")
    mask, mask_file = _roi_mask(res, row, img["height"], img["width"])
    extra = {
        "lesion_type": lesion,
        "pathology": pathology,
        "roi_mask": relative_to(mask_file, b.out_json),
        "abnormality_id": row["abnormality id"],
        "assessment": row.get("assessment"),
    }
    if not b.add_mask(key, mask, label, **extra):
        raise _RowProblem("ROI mask is empty")
