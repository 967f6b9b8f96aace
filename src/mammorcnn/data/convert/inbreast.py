"""INbreast: ``AllDICOMs/*.dcm`` + ``AllXML/<file id>.xml`` (OsiriX plist ROIs) -> COCO
polygons.

DICOM names are ``<file id>_<patient hash>_MG_<L|R>_<view>_ANON.dcm``; the patient hash is
the only patient identifier INbreast keeps, so it is the ``patient_id``. Every DICOM becomes an
image; one without a selected ROI is a negative (``has_other_findings`` when it has ROIs of
other types). ROI ``Point_px`` lists are polygons in image pixels (x right, y down, used as
given); a calcification ROI of 1-2 points becomes a disk of :data:`POINT_RADIUS` px. ROI names
are mapped by :func:`roi_type`; a name it does not know is reported with its count, never
dropped silently. View and laterality: INbreast.csv/.xls first, the file name second (whose
"ML" is INbreast's name for MLO). Pathology (no biopsy for all cases): the image's BI-RADS,
1-3 benign, 4-6 malignant, the same for every lesion of the image.
"""

from __future__ import annotations

import plistlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.data.convert.builder import CocoBuilder
from mammorcnn.data.convert.common import birads_pathology, normalize_view
from mammorcnn.data.convert.files import image_size, index_files
from mammorcnn.data.convert.inbreast_meta import read_metadata
from mammorcnn.data.convert.mias import circle_mask
from mammorcnn.errors import AnnotationError, InputError

NAMES = {
    "mass": "mass",
    "calcification": "calcification",
    "calcifications": "calcification",
    "cluster": "calcification",
    "distortion": "architectural_distortion",
    "asymmetry": "asymmetry",
    "assymetry": "asymmetry",
    # the outline of a spiculated mass, under three spellings in the dataset
    "spiculated region": "mass",
    "espiculated region": "mass",
}
# OsiriX's default names of a ROI nobody named; INbreast marks single calcifications as points
_DEFAULT_NAME = re.compile(r"^(point \d+|unnamed|)$")
_FILE_VIEWS = {"ML": "MLO"}  # INbreast's file names say ML where its own table says MLO
POINT_RADIUS = 5.0  # px: about 0.35 mm at INbreast's 70 um pixels, a small calcification
_NAME = re.compile(r"^(\d+)_([0-9A-Za-z]+)_MG_([LR])_([A-Z]+)", re.IGNORECASE)
_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_POINT = re.compile(rf"^\s*\({_NUM},{_NUM}(?:,{_NUM})?\)\s*$")  # "(x, y)" or "(x, y, z)"


def read_rois(path: Path) -> list[tuple[str, list[tuple[float, float]]]]:
    """(name, pixel points) of every ROI in an INbreast XML file."""
    try:
        plist = plistlib.loads(path.read_bytes())
    except Exception as e:  # plistlib/expat raise many types on corrupt input; name it
        raise AnnotationError(path, f"not a readable plist XML ({type(e).__name__})") from None
    images = plist.get("Images") if isinstance(plist, dict) else None
    if not isinstance(images, list):
        raise AnnotationError(path, "no 'Images' array (not an INbreast ROI file?)")
    rois: list[tuple[str, list[tuple[float, float]]]] = []
    for image in images:
        for n, roi in enumerate(image.get("ROIs", []) if isinstance(image, dict) else [None]):
            points = roi.get("Point_px") if isinstance(roi, dict) else None
            if not isinstance(points, list) or not isinstance(roi.get("Name", ""), str):
                raise AnnotationError(path, f"ROI {n}: needs a 'Name' and a 'Point_px' list")
            xy: list[tuple[float, float]] = []
            for p in points:
                m = _POINT.match(p) if isinstance(p, str) else None
                x, y = (float(m.group(1)), float(m.group(2))) if m else (np.nan, np.nan)
                if not (np.isfinite(x) and np.isfinite(y)):
                    raise AnnotationError(path, f"ROI {n}: point {p!r:.40} is not '(x, y)'")
                xy.append((x, y))
            if not xy:
                raise AnnotationError(path, f"ROI {n} ({roi.get('Name')!r}) has no points")
            rois.append((roi.get("Name", "").strip(), xy))
    return rois


def roi_type(name: str, n_points: int) -> str | None:
    """Lesion type of an INbreast ROI name (any case and spacing); a point ROI left with a
    default name ("Point 1", "Unnamed", "") is a calcification; None: unknown."""
    low = " ".join(name.lower().split())
    if low in NAMES:
        return NAMES[low]
    if _DEFAULT_NAME.match(low) and n_points <= 2:
        return "calcification"
    return None


def _add_roi(b: CocoBuilder, key: str, name: str, xy: list, extra: dict[str, Any]) -> str | None:
    """Add one ROI; returns a problem or None."""
    lesion = roi_type(name, len(xy))
    if lesion is None:
        b.count_unknown(f"ROI name {name!r} ({'point' if len(xy) <= 2 else 'outline'})")
        b.note_other(key, "unknown")
        return None
    if not b.wants(lesion, name or "(unnamed)", key):
        return None
    label = b.label(lesion, extra.get("pathology"))
    if label is None:
        return (
            f"no usable BI-RADS ({extra.get('birads')!r}) for the pathology mapping: it needs "
            "INbreast.csv or INbreast.xls (columns 'File Name', 'Bi-Rads')"
        )
    extra = {**extra, "lesion_type": lesion, "inbreast_name": name}
    if len(xy) >= 3:
        ok = b.add_polygon(key, [v for p in xy for v in p], label, **extra)
    elif lesion == "calcification":
        img = b.images[key]
        disk = circle_mask(img["height"], img["width"], xy[0][1], xy[0][0], POINT_RADIUS)
        ok = b.add_mask(key, disk, label, **extra)
    else:
        return f"{name} ROI with {len(xy)} point(s); an outline needs at least 3"
    return None if ok else f"{name} ROI is empty or lies outside the image"


def _view_side(
    meta: dict[str, str], table: str | None, view: str, side: str
) -> tuple[str | None, str, str]:
    """(view, laterality, where the view came from): the table first, the file name second."""
    listed = normalize_view(meta.get("view"))
    lat = meta.get("laterality", "").strip().upper()
    side = lat if lat in ("L", "R") else side.upper()
    if listed is not None:
        return listed, side, str(table)
    return normalize_view(_FILE_VIEWS.get(view.upper(), view)), side, "file name"


def convert_inbreast(src: Path, b: CocoBuilder) -> None:
    """Fill ``b`` from an INbreast folder (AllDICOMs, AllXML, INbreast.csv somewhere below)."""
    if not src.is_dir():
        raise AnnotationError(src, "INbreast expects its folder (AllDICOMs, AllXML)")
    dicoms = index_files(src, (".dcm",)).by_stem
    xmls = {p.stem: p for p in sorted(src.rglob("*.xml")) if p.stem.isdigit()}
    meta, table, unread = read_metadata(src, need=b.class_mapping == "pathology")
    if unread:
        b.report.note(f"{unread}; views and laterality were taken from the file names")
    if b.class_mapping == "pathology":
        b.report.note(
            f"INbreast pathology is per image: the image's BI-RADS in {table} (1-3 benign, "
            "4-6 malignant) is given to every lesion of the image; INbreast has no per-lesion "
            "BI-RADS or biopsy result"
        )
    names = sorted(n for n in dicoms if not n.startswith("."))
    if not names:
        raise AnnotationError(src, "no INbreast DICOMs (*.dcm) found")
    ids = set()
    for stem in names:
        m, path = _NAME.match(stem), dicoms[stem][0]
        if m is None:
            b.fail(None, path, "name is not INbreast's <id>_<patient>_MG_<L|R>_<view>_ANON.dcm")
            continue
        key, patient, side, file_view = m.groups()
        ids.add(key)
        try:
            h, w = image_size(path)
        except InputError as e:
            b.fail(key, e.path or path, e.problem)
            continue
        row = meta.get(key, {})
        birads = row.get("bi-rads") or None
        view, side, view_source = _view_side(row, table, file_view, side)
        if view is None:
            b.count_unknown(f"view {file_view!r}")
        b.add_image(
            key,
            path,
            h,
            w,
            patient_id=patient,
            laterality=side,
            view=view,
            view_source=view_source,
            birads=birads,
        )
        if key not in xmls:
            continue
        try:
            rois = read_rois(xmls[key])
        except AnnotationError as e:
            b.fail(key, e.path or xmls[key], e.problem)
            continue
        extra = {
            "birads": birads,
            "pathology": birads_pathology(birads or ""),
            "pathology_source": "image BI-RADS",
        }
        for name, xy in rois:
            if problem := _add_roi(b, key, name, xy, extra):
                b.fail(key, xmls[key], problem)
                break
    for key in sorted(set(xmls) - ids):
        b.fail(None, xmls[key], f"no DICOM named {key}_*.dcm for this ROI file")
