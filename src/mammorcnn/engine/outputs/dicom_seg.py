"""DICOM Segmentation (SEG) of the detected findings, referencing the source mammogram.

One segment per detection (rather than one 'Mass' segment for all): a viewer then lists each
finding separately, with its score in the segment label, and a reader can hide a finding they
reject. Segments may overlap (Segments Overlap = YES is handled by highdicom).

Patient-identifying data: highdicom copies every Patient and Study module attribute it finds
in the source. To copy only what referencing needs, it is given a reduced copy of the source
header built from the allow-lists below; everything else (other patient attributes,
institution, operators, device, private tags, ...) never reaches the SEG.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from mammorcnn import __version__
from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.errors import ImageReadError

logger = logging.getLogger(__name__)

# Copied from the source: the UIDs that reference it (Referenced Series / Source Image
# Sequence) and put the SEG into the source's study; the geometry of its pixel grid.
REFERENCE_TAGS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "Modality", "Rows", "Columns", "PixelSpacing",
    "SpecificCharacterSet",
)  # fmt: skip
# Copied with patient_identity="reference" (default): Patient ID and Name are Type 2 in the
# SEG's Patient Module, and a PACS files an object under its patient by them; a SEG whose ID
# differs from its study's is quarantined. Accession Number and Study ID identify the order
# and study in RIS/PACS. With patient_identity="none" they are written empty (Type 2 allows
# that): the SEG then references the image by UIDs only.
IDENTITY_TAGS: tuple[str, ...] = ("PatientID", "PatientName", "AccessionNumber", "StudyID")
# Type 2 attributes of the SEG that are never needed to reference the source: written empty.
EMPTY_TAGS: tuple[str, ...] = (
    "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName",
)  # fmt: skip

# SNOMED CT: "Morphologically abnormal structure" / "Mass", in the breast.
MASS = Code("4147007", "SCT", "Mass")
# The finding types `mammorcnn convert --lesion-types` names classes after, and their SNOMED CT
# concepts (DICOM CID 6000-series breast findings), so a model of several types (the mini-MIAS
# recipe's mass, distortion and asymmetry) never stores a distortion in the PACS as a mass.
# Any other class name (benign/malignant, a COCO file's own names) is a "Lesion": the name
# is still in the segment label, but no finding type is claimed for it.
FINDING_CODES: dict[str, Code] = {
    "mass": MASS,
    "architectural_distortion": Code("129792006", "SCT", "Architectural distortion of breast"),
    "asymmetry": Code("129790003", "SCT", "Asymmetric breast tissue"),
    "calcification": Code("309587003", "SCT", "Calcification of breast"),
}
LESION = Code("52988006", "SCT", "Lesion")
LABEL_CHARS = 64  # Segment Label is a DICOM LO


def finding_code(name: str) -> Code:
    """The SNOMED CT concept a segment of class ``name`` is stored as."""
    return FINDING_CODES.get(name.strip().lower().replace(" ", "_"), LESION)


def segment_label(name: str, number: int, score: float) -> str:
    """A segment's label, 'Mass 3 (score 0.91)' or 'Architectural distortion 1 (score 0.55)':
    the class name as a reader says it, cut to the 64 characters DICOM allows."""
    words = name.strip().replace("_", " ") or "finding"
    tail = f" {number} (score {score:.2f})"
    return (words[0].upper() + words[1:])[: LABEL_CHARS - len(tail)] + tail


ALGORITHM = hd.AlgorithmIdentificationSequence(
    name="mammorcnn", version=__version__, family=codes.cid7162.ArtificialIntelligence
)


def _read_reference(path: Path, patient_identity: str) -> Dataset:
    """The reduced source header highdicom is allowed to see."""
    try:
        src = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types on corrupt files
        raise ImageReadError(path, f"cannot read DICOM header ({exc})") from None
    missing = [t for t in REFERENCE_TAGS[:4] + ("Rows", "Columns") if t not in src]
    if missing:
        raise ImageReadError(path, f"cannot be referenced by a SEG: missing {', '.join(missing)}")
    if int(src.get("NumberOfFrames", 1) or 1) != 1:
        raise ImageReadError(path, "multi-frame source: SEG writing supports 2-D images only")
    ref = Dataset()
    for keyword in REFERENCE_TAGS:
        if keyword in src:
            setattr(ref, keyword, src[keyword].value)
    for keyword in IDENTITY_TAGS:
        keep = patient_identity == "reference" and keyword in src
        setattr(ref, keyword, src[keyword].value if keep else "")
    for keyword in EMPTY_TAGS:
        setattr(ref, keyword, "")
    return ref


def write_dicom_seg(
    source_dicom_path: Path,
    masks: np.ndarray,
    scores: Sequence[float],
    out_path: Path,
    segmentation_type: Literal["BINARY", "FRACTIONAL"] = "BINARY",
    threshold: float = 0.5,
    patient_identity: Literal["reference", "none"] = "reference",
    series_number: int = 9901,
    compress: bool | None = None,
    class_names: Sequence[str] | None = None,
) -> Path | None:
    """Write a SEG with one segment per detection; None (nothing written) if no mask is left.

    ``class_names``: each detection's class name (None: every one a mass), which names and
    codes its segment (`finding_code`).

    ``masks``: (K,H,W) or (K,1,H,W) bool or probabilities in the source's pixel grid.
    BINARY thresholds probabilities at ``threshold``; FRACTIONAL stores them (0..255 steps).
    Detections whose mask is empty after thresholding get no segment (a SEG segment needs
    pixels); the others keep their detection number in the label, "Mass 3 (score 0.91)".
    """
    if patient_identity not in ("reference", "none"):
        raise ValueError(f"patient_identity must be 'reference' or 'none': {patient_identity}")
    source_dicom_path = Path(source_dicom_path)
    ref = _read_reference(source_dicom_path, patient_identity)
    arr = np.asarray(masks)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[1:] != (ref.Rows, ref.Columns):
        raise ImageReadError(
            source_dicom_path,
            f"masks of shape {arr.shape[1:]} do not match the image's {ref.Rows}x{ref.Columns}",
        )
    if segmentation_type not in ("BINARY", "FRACTIONAL"):
        raise ValueError(f"segmentation_type must be BINARY or FRACTIONAL: {segmentation_type}")
    if compress is None:
        compress = segmentation_type == "FRACTIONAL"
    binary = arr if arr.dtype == bool else arr >= threshold
    kept = [k for k in range(len(arr)) if binary[k].any()]
    if not kept:
        logger.info("%s: no detection with a non-empty mask, no SEG written", source_dicom_path)
        return None
    if segmentation_type == "BINARY":
        pixels = binary[kept]
    else:
        pixels = np.clip(arr[kept].astype(np.float32), 0.0, 1.0)
    names = ["mass"] * len(arr) if class_names is None else [str(n) for n in class_names]
    if len(names) != len(arr):
        raise ValueError(f"{len(names)} class names for {len(arr)} detections")
    only_masses = all(finding_code(names[k]) == MASS for k in kept)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=segment_label(names[k], k + 1, float(scores[k])),
            segmented_property_category=codes.cid7150.MorphologicallyAbnormalStructure,
            segmented_property_type=finding_code(names[k]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=ALGORITHM,
            anatomic_regions=[codes.SCT.Breast],
        )
        for i, k in enumerate(kept)
    ]
    with warnings.catch_warnings():
        # highdicom warns about single-component person names copied from the source.
        warnings.simplefilter("ignore", UserWarning)
        seg = hd.seg.Segmentation(
            source_images=[ref],
            pixel_array=np.moveaxis(pixels, 0, -1)[None],  # (frames=1, H, W, segments)
            segmentation_type=segmentation_type,
            segment_descriptions=descriptions,
            series_instance_uid=generate_uid(),
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="mammorcnn",
            manufacturer_model_name="mammorcnn Mask R-CNN",
            software_versions=__version__,
            device_serial_number="none",
            series_description=(
                "mammorcnn mass segmentation" if only_masses else "mammorcnn finding segmentation"
            ),
            content_label="MAMMORCNN",
            content_description=(
                "Automatic detection and segmentation of breast masses"
                if only_masses
                else "Automatic detection and segmentation of breast findings"
            ),
            max_fractional_value=255,
            transfer_syntax_uid=JPEG2000Lossless if compress else ExplicitVRLittleEndian,
        )
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(Path(out_path), buffer.getvalue())
    return Path(out_path)
