"""predict on a real CBIS-DDSM DICOM (4560x2864): outputs in the original geometry, a DICOM
SEG that pydicom reads back and that references the source, and the exact coordinate mapping
of known model-space detections."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from mammorcnn.engine.inference import Predictor, load_trained_model

from .conftest import make_checkpoint


def test_predict_real_dicom_writes_original_geometry_and_seg(
    cli, forced_weights: Path, real_dicom: Path, tmp_path: Path
):
    out = tmp_path / "out"
    result = cli("predict", "--weights", forced_weights, real_dicom, "--out", out,
                 "--device", "cpu", "--max-detections", "2")  # fmt: skip
    assert result.code == 0, result.err
    source = pydicom.dcmread(real_dicom, stop_before_pixels=True)
    rows, cols = int(source.Rows), int(source.Columns)
    assert (rows, cols) == (4560, 2864)
    pred = json.loads((out / "predictions.json").read_text())
    (entry,) = pred["images"]
    assert (entry["height"], entry["width"]) == (rows, cols)
    assert entry["kind"] == "dicom" and entry["n_detections"] == 2
    assert entry["preprocess"]["original_shape"] == [rows, cols]
    assert len(pred["results"]) == 2
    for r in pred["results"]:
        x, y, w, h = r["bbox"]
        assert 0 <= x and 0 <= y and x + w <= cols + 1e-6 and y + h <= rows + 1e-6
        assert r["segmentation"]["size"] == [rows, cols]
        assert r["score"] == pytest.approx(1.0)
    # The mask PNG is a label map on the original pixel grid.
    labels = np.asarray(Image.open(out / entry["outputs"]["mask"]))
    assert labels.shape == (rows, cols) and set(np.unique(labels)) <= {0, 1, 2}
    assert (labels > 0).any()
    with Image.open(out / entry["outputs"]["overlay"]) as overlay:
        assert max(overlay.size) == 2048 and overlay.mode == "RGB"
    # The SEG: one segment per detection, on the source's grid, referencing it.
    seg = pydicom.dcmread(out / entry["outputs"]["seg"])
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert (int(seg.Rows), int(seg.Columns)) == (rows, cols)
    assert len(seg.SegmentSequence) == 2
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == source.SOPInstanceUID
    frames = seg.pixel_array.reshape(-1, rows, cols).astype(bool)
    assert np.array_equal(frames.any(axis=0), labels > 0)  # same masks as the PNG
    assert "PatientBirthDate" not in seg or not seg.PatientBirthDate


class _FixedModel(torch.nn.Module):
    """Returns known detections in model space: boxes with masks of 0.9 filling exactly them."""

    def __init__(self, boxes: list[list[float]], scores: list[float], size: int) -> None:
        super().__init__()
        self.boxes, self.scores = torch.tensor(boxes), torch.tensor(scores)
        self.masks = torch.zeros(len(boxes), 1, size, size)
        for k, box in enumerate(boxes):
            x1, y1, x2, y2 = (int(v) for v in box)
            self.masks[k, 0, y1:y2, x1:x2] = 0.9

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        labels = torch.ones(len(self.boxes), dtype=torch.int64)
        one = {"boxes": self.boxes, "scores": self.scores, "labels": labels, "masks": self.masks}
        return [dict(one) for _ in images]


def test_predictor_maps_known_detections_to_original_pixels(forced_weights: Path, real_dicom: Path):
    loaded = load_trained_model(forced_weights, "cpu")
    size = loaded.preprocess.image_size
    inside = [20.0, 30.0, 40.0, 90.0]  # in the breast crop (model x < 45 for this image)
    padding = [60.0, 10.0, 100.0, 50.0]  # in the zero padding beside the crop
    fixed = _FixedModel([padding, inside], [0.9, 0.8], size)
    loaded = dataclasses.replace(loaded, model=fixed)
    predictor = Predictor(loaded, score_threshold=0.5)
    item = predictor.prepare_file(real_dicom)
    record = item.record
    left, width = record.pad[1], record.resized_shape[1]
    assert left + width <= padding[0] and inside[2] <= left + width  # the premise
    (det,) = predictor.predict([item])
    assert len(det) == 1 and det.scores[0] == pytest.approx(0.8)  # the padding one is gone
    expected = record.boxes_to_original(np.array([inside]))
    assert np.allclose(det.boxes, expected)
    assert det.masks.shape == (1, *record.original_shape)
    # The mask's own box agrees with the mapped box to within one model pixel.
    rows, cols = np.flatnonzero(det.masks[0].any(1)), np.flatnonzero(det.masks[0].any(0))
    mask_box = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=float)
    one_model_pixel = 1.0 / min(record.scale)
    assert np.abs(mask_box - expected[0]).max() <= one_model_pixel
    # A right breast is mirrored into the model: the box comes back on the right side.
    assert record.flipped and expected[0, 0] > record.original_shape[1] / 2
    # Above every score nothing is kept (and no mask is computed).
    (none,) = Predictor(loaded, score_threshold=0.95).predict([item])
    assert len(none) == 0 and none.masks.shape == (0, *record.original_shape)


def test_dicom_a_seg_cannot_reference(cli, forced_weights: Path, real_dicom: Path, tmp_path: Path):
    """Without a SOP Instance UID no SEG can reference the image: strict mode stops with one
    line; --skip-bad keeps the image's other outputs and lists the SEG in skipped.json."""
    source = pydicom.dcmread(real_dicom)
    del source.SOPInstanceUID
    broken = tmp_path / "no_uid.dcm"
    source.save_as(broken)
    args = ("predict", "--weights", forced_weights, broken, "--max-detections", "1",
            "--no-overlay")  # fmt: skip
    result = cli(*args, "--out", tmp_path / "strict")
    assert result.code == 2 and result.err.count("\n") == 1
    assert str(broken) in result.err and "missing SOPInstanceUID" in result.err
    assert not (tmp_path / "strict" / "no_uid_mask.png").exists()
    result = cli(*args, "--out", tmp_path / "skip", "--skip-bad")
    assert result.code == 0, result.err
    (skipped,) = json.loads((tmp_path / "skip" / "skipped.json").read_text())
    assert skipped["kind"] == "seg" and "missing SOPInstanceUID" in skipped["problem"]
    (entry,) = json.loads((tmp_path / "skip" / "predictions.json").read_text())["images"]
    assert entry["outputs"]["seg"] is None and entry["outputs"]["mask"] == "no_uid_mask.png"


def test_a_model_of_several_finding_types_names_and_codes_each_segment(
    cli, real_dicom: Path, tmp_path: Path
):
    """Two forced classes tie on every proposal, so both types are detected: each SEG segment
    carries its detection's class (label and SNOMED code), never 'Mass' for a distortion."""
    names = ["mass", "architectural_distortion"]
    weights = make_checkpoint(tmp_path / "two.safetensors", 2, force=True, class_names=names)
    out = tmp_path / "out"
    result = cli("predict", "--weights", weights, real_dicom, "--out", out, "--device", "cpu",
                 "--max-detections", "4", "--score-threshold", "0.1")  # fmt: skip
    assert result.code == 0, result.err
    pred = json.loads((out / "predictions.json").read_text())
    (entry,) = pred["images"]
    category = {c["id"]: c["name"] for c in pred["categories"]}
    kinds = [category[r["category_id"]] for r in pred["results"]]
    assert set(kinds) == set(names)
    seg = pydicom.dcmread(out / entry["outputs"]["seg"])
    codes = {"mass": "4147007", "architectural_distortion": "129792006"}
    words = {"mass": "Mass", "architectural_distortion": "Architectural distortion"}
    assert len(seg.SegmentSequence) == len(kinds)
    for segment in seg.SegmentSequence:
        word, number = segment.SegmentLabel.split(" (score")[0].rsplit(" ", 1)
        kind = kinds[int(number) - 1]
        assert word == words[kind]
        assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == codes[kind]
    assert seg.SeriesDescription == "mammorcnn finding segmentation"
    page = (out / "index.html").read_text()
    counts = {k: kinds.count(k) for k in names}
    assert (
        f"{counts['architectural_distortion']} architectural distortion, {counts['mass']} mass"
        in page
    )
