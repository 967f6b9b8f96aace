"""Shared fixtures for the data tests: DICOM/PNG writers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def write_dicom(path: Path, pixels: np.ndarray | None, **tags: Any) -> Path:
    """Write a small uncompressed DICOM; ``pixels`` (H,W), (F,H,W) or (H,W,3) uint16/uint8.

    ``tags`` override or add attributes (e.g. ``Laterality="R"``, ``WindowCenter=...``).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Secret^Patient"
    ds.PatientID = "ID-0001"
    ds.Modality = "MG"
    if pixels is not None:
        arr = np.asarray(pixels)
        colour = arr.ndim == 3 and arr.shape[-1] == 3
        frames = arr.shape[0] if arr.ndim == 3 and not colour else 1
        rows, cols = (arr.shape[-3], arr.shape[-2]) if colour else arr.shape[-2:]
        ds.Rows, ds.Columns = int(rows), int(cols)
        ds.SamplesPerPixel = 3 if colour else 1
        ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
        if colour:
            ds.PlanarConfiguration = 0
        if frames > 1:
            ds.NumberOfFrames = frames
        bits = arr.dtype.itemsize * 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
        ds.PixelRepresentation = 0
        ds.PixelData = arr.tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="session")
def dicom_writer() -> Callable[..., Path]:
    """The :func:`write_dicom` helper (fixtures are importable under --import-mode=importlib)."""
    return write_dicom
