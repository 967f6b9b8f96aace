"""DICOM reader: one grey-level frame at full bit depth, or an ImageReadError naming the problem.

pydicom does the decoding (pylibjpeg plugins for JPEG/JPEG 2000/RLE) and the LUTs; this module
adds the checks a hospital export needs before trusting a file: pixel data present, one frame,
monochrome, dimensions under :data:`MAX_PIXELS` (from the header, before decoding).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from mammorcnn.data.io.raw import VIEW_CODES, RawImage, check_pixel_count, view_from_text
from mammorcnn.errors import ImageReadError

#: Tags copied into ``meta``: what is needed to reference the source image later
#: (DICOM SEG / reports), nothing that identifies the patient.
UID_TAGS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")

#: CBIS-DDSM's curated DICOMs give every image a study of its own, so their StudyInstanceUIDs
#: cannot tell which films are one woman's; their PatientID can ("Mass-Test_P_00173_RIGHT_CC":
#: the public set's pseudonym of the woman, then side and view). Only this pattern is read:
#: any other PatientID stays out of ``meta``.
CBIS_PATIENT = re.compile(r"^(?:Mass|Calc)-(?:Training|Test)_(P_\d+)_(?:LEFT|RIGHT)_(?:CC|MLO)$")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _parse(path: Path, has_preamble: bool) -> Dataset:
    """Read the dataset; without the 'DICM' marker accept it only if it looks like an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=not has_preamble)
            # Touch every top-level element now, so a corrupt header fails here, not later.
            for _ in ds.iterall():
                pass
    except Exception as exc:  # pydicom raises many types on corrupt input; name it, don't leak it
        raise ImageReadError(path, f"not a readable DICOM file ({_describe(exc)})") from exc
    if not has_preamble and "Rows" not in ds and "SOPClassUID" not in ds:
        raise ImageReadError(path, "not a DICOM file (no 'DICM' marker and no DICOM image header)")
    return ds


def _tag(ds: Dataset, keyword: str) -> Any:
    """A tag's value, or None when it is absent, empty or unreadable."""
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed value is treated like a missing one
        return None
    if value is None or value == "":
        return None
    return value


def _check_header(path: Path, ds: Dataset) -> tuple[int, int]:
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        if other:
            raise ImageReadError(path, f"DICOM has only {other[0]}, which is not a mammogram")
        raise ImageReadError(
            path, "DICOM has no pixel data (a report, presentation state or DICOMDIR?)"
        )
    try:
        frames = int(_tag(ds, "NumberOfFrames") or 1)
        samples = int(_tag(ds, "SamplesPerPixel") or 1)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except Exception as exc:
        raise ImageReadError(path, f"DICOM image header is incomplete ({_describe(exc)})") from exc
    photometric = str(_tag(ds, "PhotometricInterpretation") or "MONOCHROME2").upper()
    if frames != 1:
        raise ImageReadError(path, f"multi-frame DICOM ({frames} frames); one frame is expected")
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise ImageReadError(
            path,
            f"colour DICOM ({photometric}, {samples} samples per pixel); a grey-level "
            "mammogram (MONOCHROME1/2) is expected",
        )
    check_pixel_count(path, rows, cols, "DICOM image")
    return rows, cols


def _apply_luts(path: Path, ds: Dataset, stored: np.ndarray) -> tuple[np.ndarray, str]:
    """Modality LUT then VOI LUT/window (LINEAR, LINEAR_EXACT, SIGMOID); float64 throughout.

    A malformed window (e.g. width 0) leaves the modality values as they are: percentile
    normalisation later still gives a usable image, and ``meta['voi']`` says what happened.
    """
    try:
        values = apply_modality_lut(stored, ds)
    except Exception as exc:
        raise ImageReadError(path, f"invalid modality LUT/rescale ({_describe(exc)})") from exc
    has_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
    if not has_voi:
        return values, "none"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = apply_voi_lut(np.asarray(values, dtype=np.float64), ds, index=0)
    except Exception as exc:
        warnings.warn(f"{path}: VOI LUT/window ignored ({_describe(exc)})", stacklevel=3)
        return values, "ignored (invalid)"
    kind = "lut" if "VOILUTSequence" in ds else str(_tag(ds, "VOILUTFunction") or "LINEAR")
    return out, kind.lower()


def read_dicom(path: Path, has_preamble: bool = True) -> RawImage:
    """Decode a single-frame monochrome DICOM into a :class:`RawImage` (see module docstring)."""
    ds = _parse(path, has_preamble)
    rows, cols = _check_header(path, ds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = ds.pixel_array
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: B036 - pylibjpeg-rle (Rust) panics with a BaseException
        # missing plugin, truncated or corrupt compressed stream, ...
        raise ImageReadError(
            path, f"DICOM pixel data cannot be decoded ({_describe(exc)})"
        ) from exc
    if stored.shape != (rows, cols):
        raise ImageReadError(path, f"decoded pixel array {stored.shape} != header {rows}x{cols}")
    values, voi = _apply_luts(path, ds, stored)
    pixels = np.asarray(values, dtype=np.float32)
    if not np.isfinite(pixels).all():
        raise ImageReadError(path, "DICOM pixel values are not finite after the LUTs")
    photometric = str(_tag(ds, "PhotometricInterpretation") or "MONOCHROME2").upper()
    if photometric == "MONOCHROME1":
        # Inverted about the value range, so brighter = denser as in MONOCHROME2; a Presentation
        # LUT Shape of INVERSE on MONOCHROME1 (the MG IOD's rule) states the same thing, so it is
        # not applied a second time.
        pixels = float(pixels.max()) + float(pixels.min()) - pixels
    return RawImage(pixels=np.ascontiguousarray(pixels), meta=_meta(path, ds, pixels, voi))


def _meta(path: Path, ds: Dataset, pixels: np.ndarray, voi: str) -> dict[str, Any]:
    laterality, source = None, None
    for keyword in ("ImageLaterality", "Laterality"):  # CBIS-DDSM fills only Laterality
        value = str(_tag(ds, keyword) or "").strip().upper()
        if value in ("L", "R"):
            laterality, source = value, keyword
            break
    view, view_source = header_view(ds)
    if view is None and (view := view_from_text(path.stem)) is not None:
        view_source = "filename"
    meta: dict[str, Any] = {
        "kind": "dicom",
        "path": str(path),
        "shape": [int(pixels.shape[0]), int(pixels.shape[1])],
        "laterality": laterality,
        "laterality_source": source,
        "view": view,
        "view_source": view_source,
        "photometric": str(_tag(ds, "PhotometricInterpretation") or "MONOCHROME2").upper(),
        "bits": int(_tag(ds, "BitsStored") or 0) or None,
        "voi": voi,
    }
    for keyword in UID_TAGS:
        value = _tag(ds, keyword)
        if value is not None:
            meta[keyword] = str(value)
    exam = cbis_exam(ds)
    if exam:  # the examination its films share (engine/inference/study_pairing.py)
        meta["exam"] = exam
    return meta


def header_view(ds: Dataset) -> tuple[str | None, str | None]:
    """(view code, the tag it came from) from ViewPosition, else PatientOrientation (where
    CBIS-DDSM puts "CC"/"MLO"); (None, None) when neither holds one."""
    for keyword in ("ViewPosition", "PatientOrientation"):
        raw = _tag(ds, keyword)
        value = str(raw[0] if isinstance(raw, pydicom.multival.MultiValue) and raw else raw or "")
        if value.strip().upper() in VIEW_CODES:
            return value.strip().upper(), keyword
    return None, None


def cbis_exam(ds: Dataset) -> str | None:
    """``CBIS-DDSM P_00173`` for a CBIS-DDSM PatientID (see :data:`CBIS_PATIENT`), else None."""
    case = CBIS_PATIENT.match(str(_tag(ds, "PatientID") or "").strip())
    return f"CBIS-DDSM {case[1]}" if case else None
