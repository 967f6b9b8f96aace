"""VinDr-Mammo: box-only annotations, sizes from DICOM headers, study = patient, one
annotation per row, official split, images holding only unselected findings marked, bad rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mammorcnn.data.coco import BOX_ONLY, load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import AnnotationError

HEADER = (
    "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
    "breast_density,finding_categories,finding_birads,xmin,ymin,xmax,ymax,split"
)
ROWS = [
    "s1,x,i1,L,CC,60,40,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,5.5,10,20.5,30,training",
    "s1,x,i2,L,MLO,60,40,BI-RADS 1,DENSITY C,['No Finding'],,,,,,training",
    "s2,x,i3,R,CC,60,40,BI-RADS 3,DENSITY B,\"['Mass', 'Suspicious Calcification']\","
    "BI-RADS 3,30,40,50,70,test",
    "s2,x,i3,R,CC,60,40,BI-RADS 3,DENSITY B,['Architectural Distortion'],BI-RADS 3,1,1,9,9,test",
]


def write_vindr(root: Path, dicom_writer: Callable[..., Path], rows: list[str] = ROWS) -> Path:
    for study, image in (("s1", "i1"), ("s1", "i2"), ("s2", "i3")):
        (root / "images" / study).mkdir(parents=True, exist_ok=True)
        dicom_writer(root / "images" / study / f"{image}.dicom", np.zeros((60, 40), np.uint16))
    (root / "finding_annotations.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return root


def test_boxes_negatives_and_patients(tmp_path: Path, dicom_writer: Callable[..., Path]) -> None:
    src = write_vindr(tmp_path / "vindr", dicom_writer)
    report = convert_dataset("vindr-mammo", src, tmp_path / "coco.json")
    coco = load_coco(report.out_json, root=tmp_path)
    assert [i["patient_id"] for i in coco["images"]] == ["s1", "s1", "s2"]
    assert [(i["height"], i["width"], i["view"]) for i in coco["images"]] == [
        (60, 40, "CC"),
        (60, 40, "MLO"),
        (60, 40, "CC"),
    ]
    boxes = [(a["image_id"], a["bbox"]) for a in coco["annotations"]]
    assert boxes == [(1, [5.5, 10.0, 15.0, 20.0]), (3, [30.0, 40.0, 10.0, 20.0])]
    assert all(a[BOX_ONLY] and "segmentation" not in a for a in coco["annotations"])
    assert report.n_box_only == 2 and report.n_negative_images == 1
    assert report.ignored == {"Suspicious Calcification": 1, "Architectural Distortion": 1}


def test_lesion_types_and_birads_pathology(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_vindr(tmp_path / "vindr", dicom_writer)
    out = tmp_path / "coco.json"
    convert_dataset("vindr-mammo", src, out, lesion_types=("calcification", "mass"))
    anns = load_coco(out)["annotations"]
    # the Mass + Suspicious Calcification row is one lesion: the first selected type given
    assert [(a["image_id"], a["category_id"], a["lesion_type"]) for a in anns] == [
        (1, 2, "mass"),
        (3, 1, "calcification"),
    ]
    assert anns[1]["finding_categories"] == ["Mass", "Suspicious Calcification"]
    convert_dataset("vindr-mammo", src, out, class_mapping="pathology")
    labels = [(a["image_id"], a["category_id"]) for a in load_coco(out)["annotations"]]
    assert labels == [(1, 2), (3, 1)]  # BI-RADS 4 -> malignant, 3 -> benign


def test_a_row_with_several_categories_is_one_annotation(
    tmp_path: Path, dicom_writer: Callable
) -> None:
    """The full file has 151 such duplicates with --classes pathology; here: none."""
    src = write_vindr(tmp_path / "vindr", dicom_writer)
    out = tmp_path / "coco.json"
    report = convert_dataset(
        "vindr-mammo", src, out, lesion_types=("mass", "calcification"), class_mapping="pathology"
    )
    anns = load_coco(out)["annotations"]
    boxes = [(a["image_id"], a["category_id"], tuple(a["bbox"])) for a in anns]
    assert boxes == [(1, 2, (5.5, 10.0, 15.0, 20.0)), (3, 1, (30.0, 40.0, 10.0, 20.0))]
    assert report.n_annotations == 2 and report.ignored == {"Architectural Distortion": 1}


OTHER_ONLY = [
    "s1,x,i1,L,CC,60,40,,,['Focal Asymmetry'],BI-RADS 3,5,10,20,30,training",
    "s1,x,i1,L,CC,60,40,,,['Suspicious Lymph Node'],BI-RADS 3,5,10,20,30,training",
    "s1,x,i2,L,R-MLO,60,40,,,['No Finding'],,,,,,training",
    "s2,x,i3,R,CC,60,40,,,\"['Mass', 'Global Asymmetry']\",BI-RADS 4,30,40,50,70,test",
]


def test_other_findings_marked_views_and_split(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_vindr(tmp_path / "vindr", dicom_writer, OTHER_ONLY)
    out = tmp_path / "coco.json"
    report = convert_dataset("vindr-mammo", src, out, official_split=True)
    images = load_coco(out)["images"]
    # i1 holds an asymmetry and a lymph node: not a normal mammogram. i3's asymmetry is the
    # same lesion as its mass (one row), so i3 is not marked.
    assert [i.get("has_other_findings") for i in images] == [
        ["asymmetry", "suspicious_lymph_node"],
        None,
        None,
    ]
    assert report.n_negative_images == 2 and report.n_other_findings_only == 1
    assert [(i["view"], i["split"]) for i in images] == [
        ("CC", "train"),
        ("MLO", "train"),
        ("CC", "test"),
    ]
    test = load_coco(tmp_path / "coco_test.json")
    assert [i["id"] for i in test["images"]] == [3] and len(test["annotations"]) == 1


def test_box_is_clipped_to_the_image(tmp_path: Path, dicom_writer: Callable) -> None:
    rows = ["s1,x,i1,L,CC,60,40,,,['Mass'],BI-RADS 4,-5,50,45,80,training"]
    src = write_vindr(tmp_path / "vindr", dicom_writer, rows)
    report = convert_dataset("vindr-mammo", src, tmp_path / "coco.json")
    assert load_coco(report.out_json)["annotations"][0]["bbox"] == [0.0, 50.0, 40.0, 10.0]


BAD = {
    "outside": ("s1,x,i1,L,CC,60,40,,,['Mass'],,50,10,60,30,t", "outside the image"),
    "no numbers": ("s1,x,i1,L,CC,60,40,,,['Mass'],,a,10,20,30,t", "not numbers"),
    "categories": ("s1,x,i1,L,CC,60,40,,,Mass],,5,10,20,30,t", "is not a list"),
    "csv size": ("s1,x,i1,L,CC,61,40,,,['Mass'],,5,10,20,30,t", "but the DICOM is 40x60"),
    "no file": ("s1,x,i9,L,CC,60,40,,,['Mass'],,5,10,20,30,t", "no image file named i9"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows(tmp_path: Path, dicom_writer: Callable, case: str) -> None:
    row, problem = BAD[case]
    good = "s2,x,i3,R,CC,60,40,,,['No Finding'],,,,,,t"
    src = write_vindr(tmp_path / "vindr", dicom_writer, [row, good])
    out = tmp_path / "coco.json"
    with pytest.raises(AnnotationError, match=problem) as info:
        convert_dataset("vindr-mammo", src, out)
    assert "finding_annotations.csv (line 2)" in str(info.value) and not out.exists()
    with pytest.warns(UserWarning, match=problem):
        report = convert_dataset("vindr-mammo", src, out, skip_bad=True)
    assert [i["patient_id"] for i in load_coco(out)["images"]] == ["s2"]
    assert len(report.skipped) == 1 and report.skipped_json == tmp_path / "skipped.json"


def test_missing_columns_and_unreadable_dicom(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_vindr(tmp_path / "vindr", dicom_writer)
    (src / "finding_annotations.csv").write_text("image_id,xmin\ni1,3\n")
    with pytest.raises(AnnotationError, match=r"missing column\(s\) \['study id'"):
        convert_dataset("vindr-mammo", src, tmp_path / "c.json")
    write_vindr(src, dicom_writer)
    (src / "images" / "s1" / "i1.dicom").write_bytes(b"")
    with pytest.raises(AnnotationError, match="i1.dicom"):
        convert_dataset("vindr-mammo", src, tmp_path / "c.json")
