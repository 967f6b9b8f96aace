"""CBIS-DDSM: CSV paths resolved in a TCIA-style download, ROI mask found by content, mask
size mismatches resized or reported, Mass/Calc copies of one mammogram merged within a split and
kept apart across the official splits, editor line numbers, paths relative to the JSON."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mammorcnn.data.coco import annotation_mask, load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import AnnotationError, ConfigError

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
    # the Calc- copy of P_00002's right MLO mammogram in the same (training) split
    full_d = d.dicom("Calc-Training_P_00002_RIGHT_MLO", "32", "1-1.dcm", np.ones((50, 50)) * 9)
    roi_d = d.dicom("Calc-Training_P_00002_RIGHT_MLO_1", "42", "1-1.dcm", _mask(50, 50, 1, 4, 1, 4))
    calc = d.row("P_00002", "RIGHT", "MLO", 1, "calcification", "MALIGNANT", full_d, roi_d, roi_d)
    (root / "calc_case_description_train_set.csv").write_text(f"{HEADER}\n{calc}\n")
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
    assert report.ignored == {"calcification": 2} and report.n_negative_images == 0
    # the calcifications are not annotated here, so the images say that they hold them
    assert [i["has_other_findings"] for i in coco["images"]] == [["calcification"]] * 2


def test_copies_merge_within_a_split_and_pathology(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    out = tmp_path / "out" / "coco.json"
    convert_dataset("cbis-ddsm", src, out, lesion_types=("mass", "calcification"))
    coco = load_coco(out, root=out.parent)
    keys = [(i["patient_id"], i["view"], i["split"]) for i in coco["images"]]
    # CSVs in name order: calc test, calc train, mass train
    assert keys == [
        ("P_00001", "CC", "test"),
        ("P_00002", "MLO", "train"),
        ("P_00001", "CC", "train"),
    ]
    per_image = [[a["lesion_type"] for a in coco["annotations"] if a["image_id"] == i] for i in (1, 2, 3)]  # fmt: skip
    # P_00002's Calc-Training and Mass-Training copies: one image with both lesions
    assert per_image == [["calcification"], ["calcification", "mass"], ["mass", "mass"]]
    # outside the JSON's folder: still relative to it
    assert coco["images"][0]["file_name"].startswith("../cbis/CBIS-DDSM/Calc-Test_P_00001_")
    convert_dataset("cbis-ddsm", src, out, class_mapping="pathology")
    labels = {a["roi_mask"].split("/")[-4]: a["category_id"] for a in load_coco(out)["annotations"]}
    assert labels == {  # MALIGNANT, BENIGN, BENIGN_WITHOUT_CALLBACK
        "Mass-Training_P_00001_LEFT_CC_1": 2,
        "Mass-Training_P_00001_LEFT_CC_2": 1,
        "Mass-Training_P_00002_RIGHT_MLO_1": 1,
    }


def test_official_split_kept_and_written(tmp_path: Path, dicom_writer: Callable) -> None:
    """P_00001 LEFT CC has Mass-Training lesions and a Calc-Test lesion: two images, each with
    its own split's lesions, each marked with what the other copy holds."""
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    out = src / "coco.json"
    report = convert_dataset(
        "cbis-ddsm", src, out, lesion_types=("mass", "calcification"), official_split=True
    )
    coco = load_coco(out, root=src)
    test_image = next(i for i in coco["images"] if i["split"] == "test")
    assert test_image["cbis_case"] == "Calc-Test_P_00001_LEFT_CC"
    assert test_image["other_split_copies"] == ["Mass-Training_P_00001_LEFT_CC"]
    assert test_image["has_other_findings"] == ["mass"]
    train_image = next(
        i for i in coco["images"] if i["cbis_case"] == "Mass-Training_P_00001_LEFT_CC"
    )
    assert train_image["split"] == "train" and train_image["has_other_findings"] == [
        "calcification"
    ]
    assert report.per_split == {"train": 2, "test": 1}
    assert report.split_files == {"test": src / "coco_test.json", "train": src / "coco_train.json"}
    train, test = (load_coco(src / f"coco_{s}.json", root=src) for s in ("train", "test"))
    assert [i["id"] for i in train["images"]] == [2, 3] and [i["id"] for i in test["images"]] == [1]
    assert [a["lesion_type"] for a in test["annotations"]] == ["calcification"]
    assert sorted(a["image_id"] for a in train["annotations"]) == [2, 2, 3, 3]
    assert any("1 patient(s) have images in both official splits" in n for n in report.notes)
    with pytest.raises(ConfigError, match="inbreast has no official split"):
        convert_dataset("inbreast", src, out, official_split=True)


def test_error_names_the_editor_line(tmp_path: Path, dicom_writer: Callable) -> None:
    """CBIS paths end in a newline inside their quotes and rows end in CRLF: the record after
    such a row starts two lines further down."""
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    csv = src / "mass_case_description_train_set.csv"
    lines = csv.read_text().splitlines()
    fields = lines[1].split(",")
    fields[-1] = f'"{fields[-1]}\n"'  # the ROI path as the real CSVs quote it
    bad = lines[3].replace("Mass-Training_P_00002_RIGHT_MLO/", "Nope/", 1)
    csv.write_bytes("\r\n".join([lines[0], ",".join(fields), lines[2], bad]).encode() + b"\r\n")
    with pytest.raises(AnnotationError, match=r"train_set.csv \(line 5\): no DICOM found") as e:
        convert_dataset("cbis-ddsm", src, tmp_path / "c.json")
    assert "\n" not in str(e.value)


def test_every_path_relative_to_the_json_so_the_folder_can_move(
    tmp_path: Path, dicom_writer: Callable
) -> None:
    src = write_cbis(tmp_path / "data" / "cbis", dicom_writer)
    out = tmp_path / "data" / "coco" / "cbis.json"
    convert_dataset("cbis-ddsm", src, out)
    text = out.read_text()
    assert str(tmp_path) not in text  # no absolute path anywhere
    shutil.move(tmp_path / "data", tmp_path / "moved")
    moved = tmp_path / "moved" / "coco" / "cbis.json"
    coco = load_coco(moved, root=moved.parent)  # checks every image file exists
    for ann in coco["annotations"]:
        assert ann["roi_mask"].startswith("../cbis/CBIS-DDSM/Mass-Training_P_0000")
        assert (moved.parent / ann["roi_mask"]).is_file()
    assert json.loads(text)["images"][0]["file_name"].startswith("../cbis/CBIS-DDSM/")


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
    assert "mass_case_description_train_set.csv (line 3)" in str(info.value)
    with pytest.warns(UserWarning, match=problem):
        report = convert_dataset("cbis-ddsm", src, out, skip_bad=True)
    # the whole image goes, not just its bad lesion (that would fake a negative)
    assert [i["patient_id"] for i in load_coco(out)["images"]] == ["P_00002"]
    assert report.skipped[0]["image"] == "P_00001_L_CC/train"


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
