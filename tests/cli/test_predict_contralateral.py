"""predict --contralateral-weight: a study's two breasts pair by StudyInstanceUID and view, the
rule comes before the score threshold, and other studies are left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.conftest import write_dicom


def test_predict_lowers_what_both_breasts_of_a_study_show(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
):
    coco = json.loads(phantoms.read_text())
    pixels = np.asarray(Image.open(phantoms.parent / coco["images"][0]["file_name"]))
    other = np.asarray(Image.open(phantoms.parent / coco["images"][1]["file_name"]))
    folder = tmp_path / "study"
    folder.mkdir()
    tags = {"ViewPosition": "MLO", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1"}
    # the right breast is the exact mirror: after preprocessing the model sees the same input
    write_dicom(folder / "a_left.dcm", pixels, ImageLaterality="L", **tags)
    write_dicom(folder / "b_right.dcm", np.ascontiguousarray(pixels[:, ::-1]),
                ImageLaterality="R", **tags)  # fmt: skip
    write_dicom(folder / "c_other.dcm", other, ImageLaterality="L", ViewPosition="MLO")

    def scores(threshold: str) -> dict[str, set[float]]:
        out = tmp_path / f"out{threshold}"
        result = cli("predict", "--weights", forced_weights, folder, "--out", out, "--device",
                     "cpu", "--no-seg", "--no-overlay", "--contralateral-weight", "0.25",
                     "--score-threshold", threshold)  # fmt: skip
        assert result.code == 0, result.err
        pred = json.loads((out / "predictions.json").read_text())
        names = {image["id"]: Path(image["file"]).name for image in pred["images"]}
        found: dict[str, set[float]] = {name: set() for name in names.values()}
        for entry in pred["results"]:
            found[names[entry["image_id"]]].add(round(entry["score"], 5))
        assert pred["settings"]["contralateral"] == {"weight": 0.25, "radius": 0.1}
        return found

    # every forced detection scores 1 and has its mirror at distance 0: 1 * (1 - 0.25 * 1)
    assert scores("0.7") == {"a_left.dcm": {0.75}, "b_right.dcm": {0.75}, "c_other.dcm": {1.0}}
    # the threshold applies to the lowered scores
    assert scores("0.8") == {"a_left.dcm": set(), "b_right.dcm": set(), "c_other.dcm": {1.0}}
