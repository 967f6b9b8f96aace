"""predict_files: a checkpoint over image files, every output written, bad inputs named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
from mammorcnn.engine.inference.files_run import predict_files
from mammorcnn.errors import InputError


@pytest.fixture
def images(phantoms: Path, tmp_path: Path) -> Path:
    """A copy of the phantoms' image folder, which a test may add bad files to."""
    return Path(shutil.copytree(phantoms.parent / "images", tmp_path / "images"))


def test_files_give_the_dataset_run_detections(
    forced_weights: Path, phantoms: Path, images: Path, tmp_path: Path
) -> None:
    opts = DatasetRunOptions(device="cpu", score_threshold=0.0)
    run = predict_files(forced_weights, [images], tmp_path / "out", opts, seg=False)
    expected, _ = predict_dataset(forced_weights, phantoms, opts, progress=False)
    assert [Path(i["file"]).name for i in run.images] == sorted(p.name for p in images.iterdir())
    # the same engine path: files and the COCO file give the same boxes and scores
    key = [(r["image_id"], r["bbox"], r["score"]) for r in run.results]
    assert key == [(r["image_id"], r["bbox"], r["score"]) for r in expected]
    written = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert written["results"] == run.results and written["images"] == run.images


def test_every_output_is_written(forced_weights: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    opts = DatasetRunOptions(device="cpu", score_threshold=0.5, max_detections=3)
    run = predict_files(forced_weights, [images], out, opts, seg=False)
    assert len(run.images) == 4 and run.skipped == []
    assert all(r["score"] >= 0.5 for r in run.results)
    assert [i["n_detections"] for i in run.images] == [3, 3, 3, 3]
    for image in run.images:
        stem = Path(image["file"]).stem
        assert image["outputs"] == {
            "mask": f"{stem}_mask.png", "overlay": f"{stem}_overlay.png", "seg": None}  # fmt: skip
        assert Image.open(out / image["outputs"]["mask"]).size == (128, 128)
        assert Image.open(out / image["outputs"]["overlay"]).mode == "RGB"
    assert (out / "index.html").is_file()
    assert not (out / "skipped.json").exists()


def test_a_bad_file_stops_the_run_or_is_skipped(
    forced_weights: Path, images: Path, tmp_path: Path
) -> None:
    (images / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="broken.png"):
        predict_files(forced_weights, [images], tmp_path / "a", DatasetRunOptions(device="cpu"))
    opts = DatasetRunOptions(device="cpu", skip_bad=True)
    run = predict_files(forced_weights, [images], tmp_path / "b", opts, overlay=False, seg=False)
    assert len(run.images) == 4
    assert [(Path(s["file"]).name, s["kind"]) for s in run.skipped] == [("broken.png", "image")]
    assert "broken.png" not in run.skipped[0]["problem"]  # the file is named once, in "file"
    assert json.loads((tmp_path / "b" / "skipped.json").read_text()) == run.skipped
    assert all(i["outputs"]["overlay"] is None for i in run.images)
