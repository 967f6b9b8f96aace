"""File access for the converters: header-only image sizes, CSV tables, and a one-pass index
of the files under a dataset folder (downloads never keep the layout their CSVs describe)."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
from PIL import Image

from mammorcnn.data.coco import MAX_SIDE
from mammorcnn.errors import AnnotationError, ImageReadError

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with path.open("rb") as f:
        return f.read(132)[128:] == b"DICM"


def dicom_header(path: Path) -> pydicom.Dataset:
    """The DICOM header without pixel data (pydicom raises many types on corrupt input)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as e:
        raise ImageReadError(path, f"not a readable DICOM header ({type(e).__name__})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding pixels."""
    try:
        if not path.is_file():
            raise ImageReadError(path, "file not found")
        if _is_dicom(path):
            ds = dicom_header(path)
            try:
                h, w = int(ds.Rows), int(ds.Columns)
            except Exception:
                raise ImageReadError(path, "DICOM header has no valid Rows/Columns") from None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    w, h = im.size
    except ImageReadError:
        raise
    except Exception as e:  # OSError, PIL.UnidentifiedImageError, DecompressionBombError...
        raise ImageReadError(path, f"cannot read the image header ({type(e).__name__})") from None
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise ImageReadError(path, f"implausible image size {w}x{h}")
    return h, w


def read_table(path: Path, delimiters: str = ",;\t") -> list[dict[str, str]]:
    """Rows of a CSV as dicts with normalised column names (see :func:`read_table_lines`)."""
    return [row for _, row in read_table_lines(path, delimiters)]


def read_table_lines(path: Path, delimiters: str = ",;\t") -> list[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV: ``line`` is where the record starts as an editor numbers lines.

    Column names are normalised (lower case, ``_`` -> space) because the same dataset ships
    ``breast_density`` in one CSV and ``breast density`` in the next; the delimiter is sniffed
    because INbreast uses ``;``. The line is counted by the csv reader, not as the record
    number, because CBIS-DDSM paths hold newlines inside quoted fields.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(path, f"cannot read as UTF-8 text ({type(e).__name__})") from None
    first = text.split("\n", 1)[0]
    delim = max(delimiters, key=first.count)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        header = [" ".join(h.strip().lower().replace("_", " ").split()) for h in next(reader, [])]
        start = reader.line_num + 1
        for row in reader:
            if any(v.strip() for v in row):
                cells = {h: row[i].strip() if i < len(row) else "" for i, h in enumerate(header)}
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise AnnotationError(path, f"malformed CSV: {e}") from None
    if not header:
        raise AnnotationError(path, "empty CSV (no header row)")
    return rows


def require_columns(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    """Fail once, naming every missing column, instead of a KeyError per row."""
    present = set(rows[0]) if rows else set()
    if missing := [c for c in columns if c not in present]:
        what = "no data rows" if not rows else f"missing column(s) {missing}"
        raise AnnotationError(path, f"{what}; expected columns {list(columns)}")


@dataclass
class FileIndex:
    """Files under a dataset folder by name stem and by every ancestor folder name."""

    by_stem: dict[str, list[Path]]
    by_folder: dict[str, list[Path]]


def index_files(root: Path, suffixes: tuple[str, ...]) -> FileIndex:
    """Walk ``root`` once. VinDr/mini-MIAS/INbreast look files up by stem, CBIS-DDSM by the
    case folder name, the one part of its CSV paths that survives in the TCIA download."""
    index = FileIndex(defaultdict(list), defaultdict(list))
    for folder, dirs, files in os.walk(root):
        dirs.sort()  # a deterministic order, so "the first match" means the same every run
        parts = set(Path(folder).relative_to(root).parts)
        for name in sorted(files):
            if name.lower().endswith(suffixes):
                path = Path(folder) / name
                index.by_stem[Path(name).stem].append(path)
                for part in parts:
                    index.by_folder[part].append(path)
    return index
