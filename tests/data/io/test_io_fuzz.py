"""Fuzzing read_image: random and mutated bytes give an image or ImageReadError, nothing else."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mammorcnn.data.io import read_image
from mammorcnn.errors import ImageReadError

SUFFIXES = [".dcm", ".png", ".tif", ".pgm", ""]
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _valid_files(write_dicom) -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        ramp = np.arange(24 * 16, dtype=np.uint16).reshape(24, 16) * 100
        dicom = write_dicom(
            Path(tmp) / "v.dcm", ramp, Laterality="L", WindowCenter=900, WindowWidth=400
        ).read_bytes()
        # RLE Lossless like CBIS-DDSM: corrupt streams reach pylibjpeg-rle's Rust decoder
        rle = pydicom.dcmread(io.BytesIO(dicom))
        rle.compress(pydicom.uid.RLELossless)
        buffer = io.BytesIO()
        rle.save_as(buffer, enforce_file_format=True)
    blobs = [dicom, buffer.getvalue()]
    for fmt, array in (("PNG", ramp), ("TIFF", ramp), ("PPM", (ramp // 256).astype(np.uint8))):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        blobs.append(buffer.getvalue())
    return blobs


@pytest.fixture(scope="module")
def valid_files(dicom_writer) -> list[bytes]:
    return _valid_files(dicom_writer)


def _read(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            raw = read_image(path)
        except ImageReadError as exc:
            assert exc.path == str(path) and exc.problem
            return
        assert raw.pixels.ndim == 2 and raw.pixels.dtype == np.float32
        assert np.isfinite(raw.pixels).all()


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    _read(data, suffix)


@FUZZ
@given(data=st.binary(max_size=512), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_behind_a_dicom_preamble(data, suffix):
    _read(bytes(128) + b"DICM" + data, suffix)


@FUZZ
@given(
    which=st.integers(0, 4),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.floats(0.05, 1.0),
    suffix=st.sampled_from(SUFFIXES),
)
def test_mutated_valid_files(valid_files, which, edits, cut, suffix):
    data = bytearray(valid_files[which])
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _read(bytes(data[: max(1, int(cut * len(data)))]), suffix)
