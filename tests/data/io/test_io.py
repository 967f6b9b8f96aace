"""read_image: real CBIS-DDSM DICOMs, LUT formulas, raster formats, and every bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from mammorcnn.data.io import MAX_PIXELS, read_image
from mammorcnn.errors import ImageReadError

# ---- the eight real CBIS-DDSM mammograms ----------------------------------------------------


def test_real_dicoms_decode_at_16_bits(real_images):
    assert len(real_images) == 8
    for _, path, raw in real_images:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert header.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
        assert raw.pixels.dtype == np.float32
        assert raw.pixels.shape == (header.Rows, header.Columns)
        assert raw.meta["shape"] == [header.Rows, header.Columns]
        assert raw.meta["kind"] == "dicom" and raw.meta["bits"] == 16
        # full bit depth kept: far more than 256 distinct grey levels, values beyond 8 bits
        assert raw.pixels.max() > 40000
        assert np.unique(raw.pixels[::16, ::16]).size > 1000


def test_real_dicoms_laterality_from_the_tag_that_holds_it(real_images):
    for view, path, raw in real_images:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        # CBIS-DDSM stores the side only in (0020,0060) Laterality, never ImageLaterality
        assert "ImageLaterality" not in header and header.Laterality in ("L", "R")
        assert raw.meta["laterality"] == view[0].upper() == header.Laterality
        assert raw.meta["laterality_source"] == "Laterality"
        # ... and the view (CC/MLO) only in PatientOrientation; no ViewPosition
        assert "ViewPosition" not in header
        assert raw.meta["view"] == view[1:].upper()
        assert raw.meta["view_source"] == "PatientOrientation"


def test_real_dicoms_meta_references_source_without_patient_data(real_images):
    for _, path, raw in real_images:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
            assert raw.meta[keyword] == str(header[keyword].value)
        values = " ".join(str(v) for v in raw.meta.values())
        assert str(header.PatientName) not in values and str(header.PatientID) not in values


def test_real_dicoms_name_the_woman_their_studies_do_not(real_cases, real_images):
    """CBIS-DDSM gives each of a woman's films a study of its own; ``exam`` (the pseudonym in
    PatientID, for pairing a woman's breasts) is the same for her four films."""
    assert len({raw.meta["StudyInstanceUID"] for _, _, raw in real_images}) == 8
    exams = {}
    for _, path, raw in real_images:
        patient = str(pydicom.dcmread(path, stop_before_pixels=True).PatientID)
        woman = patient.split("_")[1] + "_" + patient.split("_")[2]  # Mass-Test_P_00173_...
        assert raw.meta["exam"] == f"CBIS-DDSM {woman}"
        exams[str(path)] = raw.meta["exam"]
    per_case = [{exams[str(path)] for path in case.values()} for case in real_cases]
    assert all(len(case) == 1 for case in per_case) and per_case[0] != per_case[1]


def test_other_patient_ids_stay_out_of_the_meta(tmp_path, dicom_writer):
    pixels = np.full((8, 8), 100, np.uint16)
    plain = read_image(dicom_writer(tmp_path / "a.dcm", pixels, PatientID="ID-0001"))
    assert "exam" not in plain.meta
    cbis = read_image(
        dicom_writer(tmp_path / "b.dcm", pixels, PatientID="Calc-Training_P_00042_LEFT_MLO")
    )
    assert cbis.meta["exam"] == "CBIS-DDSM P_00042"


# ---- LUTs and photometric interpretation, against the DICOM formulas -------------------------


def _ramp(rows: int = 16, cols: int = 32, top: int = 4095) -> np.ndarray:
    return np.linspace(0, top, rows * cols).round().astype(np.uint16).reshape(rows, cols)


def test_modality_rescale_applied(tmp_path, dicom_writer):
    stored = _ramp()
    path = dicom_writer(tmp_path / "r.dcm", stored, RescaleSlope=2, RescaleIntercept=-100)
    np.testing.assert_allclose(read_image(path).pixels, 2.0 * stored - 100)


def test_linear_window(tmp_path, dicom_writer):
    stored = _ramp()
    c, w = 2000.0, 1001.0
    path = dicom_writer(tmp_path / "w.dcm", stored, WindowCenter=c, WindowWidth=w)
    raw = read_image(path)
    x = stored.astype(np.float64)
    expected = ((x - (c - 0.5)) / (w - 1) + 0.5) * 65535  # DICOM PS3.3 C.11.2.1.2.1
    expected = np.clip(expected, 0, 65535)
    np.testing.assert_allclose(raw.pixels, expected, atol=1e-2)
    assert raw.meta["voi"] == "linear"


def test_sigmoid_window(tmp_path, dicom_writer):
    stored = _ramp()
    c, w = 2000.0, 800.0
    path = dicom_writer(
        tmp_path / "s.dcm", stored, WindowCenter=c, WindowWidth=w, VOILUTFunction="SIGMOID"
    )
    raw = read_image(path)
    expected = 65535 / (1 + np.exp(-4 * (stored - c) / w))  # DICOM PS3.3 C.11.2.1.3.1
    np.testing.assert_allclose(raw.pixels, expected, rtol=1e-5, atol=1e-2)
    assert raw.meta["voi"] == "sigmoid"


def test_monochrome1_inverted(tmp_path, dicom_writer):
    stored = _ramp()
    path = dicom_writer(tmp_path / "m1.dcm", stored, PhotometricInterpretation="MONOCHROME1")
    raw = read_image(path)
    np.testing.assert_array_equal(
        raw.pixels, stored.max() + stored.min() - stored.astype(np.float32)
    )
    assert raw.meta["photometric"] == "MONOCHROME1"


def test_image_laterality_preferred_and_view_position(tmp_path, dicom_writer):
    path = dicom_writer(
        tmp_path / "x.dcm", _ramp(), ImageLaterality="L", Laterality="R", ViewPosition="MLO"
    )
    meta = read_image(path).meta
    assert (meta["laterality"], meta["laterality_source"]) == ("L", "ImageLaterality")
    assert (meta["view"], meta["view_source"]) == ("MLO", "ViewPosition")


def test_no_laterality_left_to_content(tmp_path, dicom_writer):
    meta = read_image(dicom_writer(tmp_path / "P_00001_RIGHT_CC.dcm", _ramp())).meta
    assert meta["laterality"] is None and meta["laterality_source"] is None
    assert (meta["view"], meta["view_source"]) == ("CC", "filename")


def test_dicom_without_preamble_marker_is_read(tmp_path, dicom_writer):
    path = dicom_writer(tmp_path / "p.dcm", _ramp())
    data = path.read_bytes()
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(data[132:])  # no preamble, no 'DICM' marker
    np.testing.assert_array_equal(read_image(bare).pixels, _ramp())


# ---- raster formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "array", "kind", "bits"),
    [
        ("a.png", np.array([[0, 65535], [1, 40000]], np.uint16), "png", 16),
        ("a.png", np.array([[0, 255], [1, 200]], np.uint8), "png", 8),
        ("a.tif", np.array([[0, 65535], [1, 40000]], np.uint16), "tiff", 16),
        ("a.tif", np.array([[0, 255], [1, 200]], np.uint8), "tiff", 8),
        ("a.pgm", np.array([[0, 255], [1, 200]], np.uint8), "pgm", 8),
        ("a.pgm", np.array([[0, 65535], [1, 40000]], np.uint16), "pgm", 16),
    ],
)
def test_raster_formats_exact(tmp_path, name, array, kind, bits):
    path = tmp_path / name
    Image.fromarray(array).save(path)
    raw = read_image(path)
    np.testing.assert_array_equal(raw.pixels, array.astype(np.float32))
    assert raw.pixels.dtype == np.float32
    assert (raw.meta["kind"], raw.meta["bits"]) == (kind, bits)
    assert raw.meta["laterality"] is None


# ---- bad inputs: each refused with ImageReadError naming the file and the problem -------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, depth: int, colour_type: int, raw_rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw_rows))
        + _png_chunk(b"IEND", b"")
    )


def _bad_files(tmp: Path, write_dicom) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the message must contain)."""
    good = write_dicom(tmp / "good.dcm", _ramp(64, 64))
    data = good.read_bytes()
    files: dict[str, tuple[Path, str]] = {}

    def put(name: str, content: bytes, words: str) -> None:
        (tmp / name).write_bytes(content)
        files[name] = (tmp / name, words)

    put("empty.dcm", b"", "empty file")
    put("empty.png", b"", "empty file")
    put("truncated_pixels.dcm", data[: len(data) - 3000], "pixel data cannot be decoded")
    put("truncated_header.dcm", data[:300], "DICOM")
    put("text.png", b"patient list\nnot an image\n" * 10, "not an image file")
    put("text.tif", b"II*\x00 this is not really a tiff", "not an image file")
    put("text.dcm", b"hello, this is plain text\n" * 10, "not a DICOM file")
    put("la16.png", _png(4, 4, 16, 4, b"".join(b"\x00" + bytes(16) for _ in range(4))), "alpha")
    put("huge.png", _png(11000, 10000, 8, 0, b"\x00" * 10), f"limit of {MAX_PIXELS} pixels")
    # so large that Pillow's own decompression-bomb check fires first: same clear message
    put("huger.png", _png(20000, 20000, 8, 0, b"\x00" * 10), f"limit of {MAX_PIXELS} pixels")
    files["no_pixels.dcm"] = (write_dicom(tmp / "no_pixels.dcm", None), "no pixel data")
    files["multiframe.dcm"] = (
        write_dicom(tmp / "multiframe.dcm", np.zeros((3, 8, 8), np.uint16)),
        "multi-frame DICOM (3 frames)",
    )
    files["rgb.dcm"] = (write_dicom(tmp / "rgb.dcm", np.zeros((8, 8, 3), np.uint8)), "colour DICOM")
    files["ybr.dcm"] = (
        write_dicom(
            tmp / "ybr.dcm", np.zeros((8, 8, 3), np.uint8), PhotometricInterpretation="YBR_FULL"
        ),
        "colour DICOM (YBR_FULL",
    )
    files["huge.dcm"] = (
        write_dicom(tmp / "huge.dcm", np.zeros((8, 8), np.uint16), Rows=20000, Columns=20000),
        "exceeds the limit of 100000000 pixels",
    )
    for name, mode in (("rgba.png", "RGBA"), ("rgb.png", "RGB"), ("palette.png", "P")):
        image = Image.new(mode, (8, 8))
        if mode == "RGB":
            image.putpixel((3, 4), (200, 10, 10))  # one coloured pixel: a colour image
        image.save(tmp / name)
        files[name] = (tmp / name, "alpha channel" if "A" in mode else "colour/palette")
    Image.new("L", (8, 8)).save(
        tmp / "pages.tif", save_all=True, append_images=[Image.new("L", (8, 8))]
    )
    files["pages.tif"] = (tmp / "pages.tif", "multi-frame TIFF (2 frames)")
    files["missing.png"] = (tmp / "missing.png", "file not found")
    files["folder.dcm"] = (tmp / "folder.dcm", "directory")
    (tmp / "folder.dcm").mkdir()
    return files


BAD_NAMES = [
    "empty.dcm", "empty.png", "truncated_pixels.dcm", "truncated_header.dcm", "text.png",
    "text.tif", "text.dcm", "la16.png", "huge.png", "huger.png", "no_pixels.dcm", "multiframe.dcm",
    "rgb.dcm", "ybr.dcm", "huge.dcm", "rgba.png", "rgb.png", "palette.png", "pages.tif",
    "missing.png", "folder.dcm",
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, dicom_writer):
    return _bad_files(tmp_path_factory.mktemp("bad"), dicom_writer)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_refused_with_clear_error(bad_files, name):
    path, words = bad_files[name]
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_oversized_image_refused_before_decoding(bad_files, monkeypatch):
    """The limit is checked from the header: the decoder must never be reached."""

    def boom(*args, **kwargs):
        raise AssertionError("decoder called")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(boom))
    monkeypatch.setattr(Image.Image, "load", boom)
    for name in ("huge.dcm", "huge.png", "huger.png"):
        with pytest.raises(ImageReadError, match="refused before decoding"):
            read_image(bad_files[name][0])


def test_rgb_png_with_equal_channels_is_read_as_grey_with_a_log_line(tmp_path, caplog):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    path = tmp_path / "edited.png"
    Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB").save(path)
    with caplog.at_level("INFO", logger="mammorcnn.data.io"):
        raw = read_image(path)
    assert raw.pixels.dtype == np.float32
    np.testing.assert_array_equal(raw.pixels, grey.astype(np.float32))
    assert raw.meta["bits"] == 8 and raw.meta["kind"] == "png"
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: RGB image with three equal channels, read as 8-bit grey"
    ]
