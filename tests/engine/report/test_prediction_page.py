"""index.html groups by study and breast: CC and MLO of one side in one row, best study first."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from mammorcnn.engine.report.prediction_page import image_place, write_prediction_index

from ...data.conftest import write_dicom


def entry(image_id: int, name: str, laterality: str | None = None) -> dict:
    return {"id": image_id, "file": f"/data/{name}", "kind": "png", "n_detections": 1,
            "outputs": {"overlay": f"{image_id}_overlay.png"},
            "preprocess": {"laterality": laterality}}  # fmt: skip


def test_place_from_file_names() -> None:
    assert image_place(entry(1, "Mass-Training_P_00001_LEFT_CC.png")) == (
        "Mass_Training_P_00001", "L", "CC")  # fmt: skip
    assert image_place(entry(2, "P_00001_RMLO.png")) == ("P_00001", "?", "MLO")
    assert image_place(entry(3, "P_00001_RMLO.png", "R"))[1] == "R"  # preprocessing's side
    assert image_place(entry(4, "scan.png")) == ("scan", "?", "?")


def test_place_of_cbis_dicoms_from_their_patient_id(tmp_path) -> None:
    """CBIS-DDSM: one study per image, the view in PatientOrientation, the woman in PatientID."""
    pixels = np.full((8, 8), 100, np.uint16)
    places = []
    for n, (side, view) in enumerate([("L", "CC"), ("R", "MLO")]):
        patient = f"Mass-Test_P_00173_{'LEFT' if side == 'L' else 'RIGHT'}_{view}"
        path = write_dicom(tmp_path / f"1-13{n}.dcm", pixels, PatientID=patient,
                           Laterality=side, PatientOrientation=view)  # fmt: skip
        places.append(image_place({"file": str(path), "kind": "dicom"}))
    assert places == [("CBIS-DDSM P_00173", "L", "CC"), ("CBIS-DDSM P_00173", "R", "MLO")]


def test_index_groups_and_orders(tmp_path) -> None:
    names = ["W1_L_CC.png", "W1_L_MLO.png", "W1_R_MLO.png", "W1_R_CC.png", "W2_L_CC.png"]
    scores = [0.6, 0.2, 0.99, 0.1, 0.7]
    for k in range(1, 6):
        Image.fromarray(np.full((20, 30, 3), 40 * k, np.uint8)).save(tmp_path / f"{k}_overlay.png")
    data = {
        "images": [entry(k + 1, n) for k, n in enumerate(names)],
        "results": [{"image_id": k + 1, "score": s} for k, s in enumerate(scores)],
        "settings": {"score_threshold": 0.05},
    }
    (tmp_path / "predictions.json").write_text(json.dumps(data))
    text = write_prediction_index(tmp_path).read_text()
    # study W1 (best 0.99) before W2 (0.7); its right breast (0.99) before its left (0.6);
    # in each row CC before MLO
    order = [text.index(n) for n in names]
    assert text.index("study W1") < text.index("study W2")
    assert order[3] < order[2] < order[0] < order[1] < order[4]
    assert text.index("right breast") < text.index("left breast")
    assert "<td>0.05</td>" in text
    assert len(list((tmp_path / "index_files").iterdir())) == 5


def test_a_model_of_several_classes_shows_each_image_s_count_per_class(tmp_path) -> None:
    images = [entry(1, "W1_L_CC.png"), entry(2, "W1_R_CC.png")]
    results = [
        {"image_id": 1, "score": 0.9, "category_id": 1},
        {"image_id": 1, "score": 0.8, "category_id": 3},
        {"image_id": 1, "score": 0.7, "category_id": 1},
        {"image_id": 2, "score": 0.6, "category_id": 2},
    ]
    categories = [{"id": 1, "name": "mass"}, {"id": 2, "name": "architectural_distortion"},
                  {"id": 3, "name": "<asymmetry>"}]  # fmt: skip
    data = {"images": images, "results": results, "categories": categories}
    (tmp_path / "predictions.json").write_text(json.dumps(data))
    text = write_prediction_index(tmp_path).read_text()
    assert "1 &lt;asymmetry&gt;, 2 mass" in text and "1 architectural distortion" in text
    data["categories"] = categories[:1]
    data["results"] = [r for r in results if r["category_id"] == 1]
    (tmp_path / "predictions.json").write_text(json.dumps(data))
    assert " mass</div>" not in write_prediction_index(tmp_path).read_text()
