"""CBIS-DDSM: CSV paths resolved in a TCIA-style download, ROI mask found by content, mask
size mismatches resized or reported, Mass/Calc copies of one mammogram merged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mammorcnn.data.coco import annotation_mask, load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import AnnotationError

HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,"
    "mass shape,mass margins,assessment,pathology,subtlety,image file path,"
    "cropped image file path,ROI mask file path"
)


def _mask(h: int, w: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[r0:r1, c0:c1] = 255
    return m


MASK_1 = _mask(60, 40, 10, 20, 5, 15)
MASK_2_HALF = _mask(30, 20, 20, 25, 10, 15)  # half size: resized to 60x40
MASK_3 = _mask(50, 50, 30, 45, 30, 45)
CROP = (np.arange(12 * 10).reshape(12, 10) * 100).astype(np.uint16)


class Download:
    """Writes a TCIA-style tree; the CSVs use the UID paths TCIA's CSVs have."""

    def __init__(self, root: Path, writer: Callable[..., Path]) -> None:
        self.root, self.writer, self.n = root, writer, 0

    def dicom(self, case: str, series: str, name: str, pixels: np.ndarray) -> str:
        folder = self.root / "CBIS-DDSM" / case / "07-20-2016-DDSM-74994" / f"1.000000-x-{series}"
        folder.mkdir(parents=True, exist_ok=True)
        self.writer(folder / name, pixels.astype(np.uint16), SeriesInstanceUID=f"1.2.{series}")
        return f"{case}/1.2.99/1.2.{series}/000000.dcm"

    def row(
        self,
        pid: str,
        side: str,
        view: str,
        n: int,
        kind: str,
        pathology: str,
        image: str,
        crop: str,
        roi: str,
    ) -> str:
        return f"{pid},3,{side},{view},{n},{kind},OVAL,CIRC,4,{pathology},3,{image},{crop},{roi}"


def write_cbis(root: Path, writer: Callable[..., Path], mask_2: np.ndarray = MASK_2_HALF) -> Path:
    d = Download(root, writer)
    full_1 = d.dicom("Mass-Training_P_00001_LEFT_CC", "11", "1-1.dcm", np.ones((60, 40)) * 500)
    # abnormality 1: mask and crop in one series, the mask under the "wrong" name 1-2
    crop_1 = d.dicom("Mass-Training_P_00001_LEFT_CC_1", "21", "1-1.dcm", CROP)
    roi_1 = d.dicom("Mass-Training_P_00001_LEFT_CC_1", "21", "1-2.dcm", MASK_1)
    # abnormality 2: a half-size ROI mask (same aspect ratio)
    roi_2 = d.dicom("Mass-Training_P_00001_LEFT_CC_2", "22", "1-1.dcm", mask_2)
    crop_2 = d.dicom("Mass-Training_P_00001_LEFT_CC_2", "22", "1-2.dcm", CROP)
    full_3 = d.dicom("Mass-Training_P_00002_RIGHT_MLO", "13", "1-1.dcm", np.ones((50, 50)) * 9)
    # abnormality 3: crop and mask in two series and the CSV columns swapped
    crop_3 = d.dicom("Mass-Training_P_00002_RIGHT_MLO_1", "23", "1-1.dcm", CROP)
    roi_3 = d.dicom("Mass-Training_P_00002_RIGHT_MLO_1", "24", "1-1.dcm", MASK_3)
    mass = [
        d.row("P_00001", "LEFT", "CC", 1, "mass", "MALIGNANT", full_1, crop_1, roi_1),
        d.row("P_00001", "LEFT", "CC", 2, "mass", "BENIGN", full_1, crop_2, roi_2),
        d.row(
            "P_00002", "RIGHT", "MLO", 1, "mass", "BENIGN_WITHOUT_CALLBACK", full_3, roi_3, crop_3
        ),
    ]
    (root / "mass_case_description_train_set.csv").write_text("\n".join([HEADER, *mass]) + "\n")
    # the Calc- copy of P_00001's left CC mammogram, with one calcification
    full_c = d.dicom("Calc-Test_P_00001_LEFT_CC", "31", "1-1.dcm", np.ones((60, 40)) * 500)
    roi_c = d.dicom("Calc-Test_P_00001_LEFT_CC_1", "41", "1-1.dcm", _mask(60, 40, 40, 44, 30, 34))
    calc = d.row("P_00001", "LEFT", "CC", 1, "calcification", "BENIGN", full_c, roi_c, roi_c)
    (root / "calc_case_description_test_set.csv").write_text(f"{HEADER}\n{calc}\n")
    return root


def test_masses_resolved_by_content_and_resized(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    report = convert_dataset("cbis-ddsm", src, src / "coco.json")
    coco = load_coco(report.out_json, root=src)
    assert [(i["patient_id"], i["laterality"], i["view"]) for i in coco["images"]] == [
        ("P_00001", "L", "CC"),
        ("P_00002", "R", "MLO"),
    ]
    assert coco["images"][0]["file_name"].startswith("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/")
    masks = [
        annotation_mask(a, 60 if a["image_id"] == 1 else 50, 40 if a["image_id"] == 1 else 50)
        for a in coco["annotations"]
    ]
    assert np.array_equal(masks[0], MASK_1 > 0)
    assert np.array_equal(masks[1], np.kron(MASK_2_HALF > 0, np.ones((2, 2), bool)))
    assert np.array_equal(masks[2], MASK_3 > 0)
    assert [a["bbox"] for a in coco["annotations"]][0] == [5.0, 10.0, 10.0, 10.0]
    assert all(a["roi_mask"].endswith(".dcm") for a in coco["annotations"])
    assert report.ignored == {"calcification": 1} and report.n_negative_images == 0


def test_mass_and_calc_copies_merge_and_pathology(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    out = tmp_path / "out" / "coco.json"
    convert_dataset("cbis-ddsm", src, out, lesion_types=("mass", "calcification"))
    coco = load_coco(out, root=out.parent)
    assert len(coco["images"]) == 2
    lesions = sorted(a["lesion_type"] for a in coco["annotations"] if a["image_id"] == 1)
    assert lesions == ["calcification", "mass", "mass"]  # one image, both copies' lesions
    assert coco["images"][0]["file_name"].startswith(str(src))  # outside the JSON's folder
    convert_dataset("cbis-ddsm", src, out, class_mapping="pathology")
    labels = {a["roi_mask"].split("/")[-4]: a["category_id"] for a in load_coco(out)["annotations"]}
    assert labels == {  # MALIGNANT, BENIGN, BENIGN_WITHOUT_CALLBACK
        "Mass-Training_P_00001_LEFT_CC_1": 2,
        "Mass-Training_P_00001_LEFT_CC_2": 1,
        "Mass-Training_P_00002_RIGHT_MLO_1": 1,
    }


def test_literal_csv_layout_is_found(tmp_path: Path, dicom_writer: Callable) -> None:
    src = tmp_path / "cbis"
    rel = "Mass-Training_P_00009_LEFT_CC/1.2.3/1.2.4/000000.dcm"
    roi = "Mass-Training_P_00009_LEFT_CC_1/1.2.3/1.2.5/000000.dcm"
    for path, px in ((rel, np.ones((20, 20)) * 7), (roi, _mask(20, 20, 2, 5, 2, 5))):
        (src / path).parent.mkdir(parents=True)
        dicom_writer(src / path, px.astype(np.uint16))
    row = f"P_00009,2,LEFT,CC,1,mass,ROUND,CIRC,3,BENIGN,2,{rel},{roi},{roi}"
    (src / "mass_case_description_test_set.csv").write_text(f"{HEADER}\n{row}\n")
    report = convert_dataset(
        "cbis-ddsm", src / "mass_case_description_test_set.csv", src / "c.json"
    )
    assert report.n_annotations == 1 and report.per_category == {"mass": 1}


@pytest.mark.parametrize(
    ("mask_2", "problem"),
    [
        (_mask(30, 30, 1, 5, 1, 5), "aspect ratios differ"),
        (CROP[:10, :10], "is a binary ROI mask"),
        (np.zeros((60, 40)), "is a binary ROI mask"),
    ],
)
def test_bad_roi_masks(tmp_path: Path, dicom_writer: Callable, mask_2: np.ndarray, problem: str):
    src = write_cbis(tmp_path / "cbis", dicom_writer, mask_2=mask_2)
    out = tmp_path / "coco.json"
    with pytest.raises(AnnotationError, match=problem) as info:
        convert_dataset("cbis-ddsm", src, out)
    assert "mass_case_description_train_set.csv (row 3)" in str(info.value)
    with pytest.warns(UserWarning, match=problem):
        report = convert_dataset("cbis-ddsm", src, out, skip_bad=True)
    # the whole image goes, not just its bad lesion (that would fake a negative)
    assert [i["patient_id"] for i in load_coco(out)["images"]] == ["P_00002"]
    assert report.skipped[0]["image"] == "P_00001_L_CC"


def test_missing_files_and_columns(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    csv = src / "mass_case_description_train_set.csv"
    csv.write_text(csv.read_text().replace("Mass-Training_P_00002_RIGHT_MLO/", "Nope/"))
    with pytest.raises(AnnotationError, match="no DICOM found for image 'Nope/"):
        convert_dataset("cbis-ddsm", src, tmp_path / "c.json")
    csv.write_text("patient_id,pathology\nP_1,BENIGN\n")
    with pytest.raises(AnnotationError, match=r"missing column\(s\)"):
        convert_dataset("cbis-ddsm", src, tmp_path / "c.json")
    with pytest.raises(AnnotationError, match="no CBIS-DDSM case description"):
        convert_dataset("cbis-ddsm", tmp_path / "cbis" / "CBIS-DDSM", tmp_path / "c.json")
