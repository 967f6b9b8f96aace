"""INbreast: plist ROI polygons in image pixels, patient hash from the file name, BI-RADS."""

from __future__ import annotations

import plistlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mammorcnn.data.coco import annotation_mask, load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import AnnotationError

H, W = 80, 60
# The first file as OsiriX writes it (abridged): points are "(x, y)" strings.
XML_101 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>Images</key>
\t<array>
\t\t<dict>
\t\t\t<key>ImageIndex</key><integer>0</integer>
\t\t\t<key>NumberOfROIs</key><integer>3</integer>
\t\t\t<key>ROIs</key>
\t\t\t<array>
\t\t\t\t<dict>
\t\t\t\t\t<key>Area</key><real>200</real>
\t\t\t\t\t<key>Name</key><string>Mass</string>
\t\t\t\t\t<key>NumberOfPoints</key><integer>4</integer>
\t\t\t\t\t<key>Point_mm</key><array><string>(1.4, 2.1, 0.0)</string></array>
\t\t\t\t\t<key>Point_px</key>
\t\t\t\t\t<array>
\t\t\t\t\t\t<string>(10.000000, 20.000000)</string>
\t\t\t\t\t\t<string>(30.000000, 20.000000)</string>
\t\t\t\t\t\t<string>(30.000000, 30.000000)</string>
\t\t\t\t\t\t<string>(10.000000, 30.000000)</string>
\t\t\t\t\t</array>
\t\t\t\t</dict>
\t\t\t\t<dict>
\t\t\t\t\t<key>Name</key><string>Calcification</string>
\t\t\t\t\t<key>Point_px</key><array><string>(40.5, 60.5)</string></array>
\t\t\t\t</dict>
\t\t\t\t<dict>
\t\t\t\t\t<key>Name</key><string>Cluster</string>
\t\t\t\t\t<key>Point_px</key>
\t\t\t\t\t<array><string>(35, 50)</string><string>(50, 50)</string><string>(45, 70)</string></array>
\t\t\t\t</dict>
\t\t\t</array>
\t\t</dict>
\t</array>
</dict>
</plist>
"""


def _roi_plist(*rois: tuple[str, list[str]]) -> bytes:
    roi_list = [{"Name": n, "Point_px": pts, "NumberOfPoints": len(pts)} for n, pts in rois]
    return plistlib.dumps({"Images": [{"ImageIndex": 0, "ROIs": roi_list}]})


def write_inbreast(root: Path, dicom_writer: Callable[..., Path], xml_201: bytes | None = None):
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    # INbreast's file names say ML for the views its table calls MLO
    for name in ("101_aaa_MG_L_CC_ANON", "102_aaa_MG_L_ML_ANON", "201_bbb_MG_R_CC_ANON"):
        dicom_writer(root / "AllDICOMs" / f"{name}.dcm", np.zeros((H, W), np.uint16))
    (root / "AllXML" / "101.xml").write_text(XML_101)
    spiculated = ("Spiculated Region", ["(1, 1)", "(5, 1)", "(5, 5)"])
    mass = ("Mass", ["(50.2, 70.1)", "(59.9, 70)", "(59, 79.9)"])
    (root / "AllXML" / "201.xml").write_bytes(xml_201 or _roi_plist(mass, spiculated))
    (root / "INbreast.csv").write_text(
        "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads\n"
        "removed;;L;CC;201001;101;2;4c\nremoved;;L;MLO;201001;102;2;1\n"
        "removed;;R;CC;201001;201;1;2\n"
    )
    return root


def test_polygons_patients_and_negatives(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    report = convert_dataset("inbreast", src, tmp_path / "coco.json")
    coco = load_coco(report.out_json, root=tmp_path)
    assert [(i["patient_id"], i["laterality"], i["view"]) for i in coco["images"]] == [
        ("aaa", "L", "CC"),
        ("aaa", "L", "MLO"),
        ("bbb", "R", "CC"),
    ]
    first = coco["annotations"][0]
    assert first["segmentation"] == [[10.0, 20.0, 30.0, 20.0, 30.0, 30.0, 10.0, 30.0]]
    assert first["bbox"] == [10.0, 20.0, 20.0, 10.0] and first["area"] == 200
    mask = annotation_mask(first, H, W)
    assert mask[20:30, 10:30].all() and mask.sum() == 200
    # "Spiculated Region" is a mass's outline: a mass, not dropped
    assert [(a["image_id"], a["inbreast_name"]) for a in coco["annotations"]] == [
        (1, "Mass"),
        (3, "Mass"),
        (3, "Spiculated Region"),
    ]
    assert report.n_negative_images == 1 and report.n_other_findings_only == 0
    assert report.ignored == {"Calcification": 1, "Cluster": 1}
    assert [i.get("has_other_findings") for i in coco["images"]] == [["calcification"], None, None]
    assert [i["view_source"] for i in coco["images"]] == ["INbreast.csv"] * 3


def test_calcifications_points_and_birads_pathology(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    out = tmp_path / "coco.json"
    convert_dataset("inbreast", src, out, lesion_types=("mass", "calcification"))
    anns = load_coco(out)["annotations"]
    types = [a["lesion_type"] for a in anns]
    assert types == ["mass", "calcification", "calcification", "mass", "mass"]
    disk = annotation_mask(anns[1], H, W)
    rows, cols = np.nonzero(disk)
    assert (rows.mean(), cols.mean()) == pytest.approx((60.5, 40.5), abs=0.1)
    assert disk.sum() == pytest.approx(np.pi * 25, rel=0.15)
    convert_dataset("inbreast", src, out, class_mapping="pathology")
    assert [a["category_id"] for a in load_coco(out)["annotations"]] == [2, 1, 1]  # 4c, 2, 2


BAD = {
    "malformed xml": (b"<plist><dict><key>Images</key>", "not a readable plist"),
    "not a plist": (plistlib.dumps({"Rois": []}), "no 'Images' array"),
    "two points": (_roi_plist(("Mass", ["(1, 1)", "(5, 5)"])), "at least 3"),
    "bad point": (_roi_plist(("Mass", ["(1, 1)", "1;5", "(5, 9)"])), r"is not '\(x, y\)'"),
    "outside": (_roi_plist(("Mass", ["(90, 1)", "(95, 1)", "(95, 5)"])), "outside the image"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_roi_files(tmp_path: Path, dicom_writer: Callable, case: str) -> None:
    xml, problem = BAD[case]
    src = write_inbreast(tmp_path / "INbreast", dicom_writer, xml_201=xml)
    out = tmp_path / "coco.json"
    with pytest.raises(AnnotationError, match=problem) as info:
        convert_dataset("inbreast", src, out)
    assert "201.xml" in str(info.value) and not out.exists()
    with pytest.warns(UserWarning, match=problem):
        report = convert_dataset("inbreast", src, out, skip_bad=True)
    assert [i["patient_id"] for i in load_coco(out)["images"]] == ["aaa", "aaa"]
    assert report.skipped[0]["image"] == "201"


def test_orphan_xml_and_bad_names(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    (src / "AllXML" / "999.xml").write_text(XML_101)
    with pytest.raises(AnnotationError, match="no DICOM named 999_"):
        convert_dataset("inbreast", src, tmp_path / "c.json")
    (src / "AllXML" / "999.xml").unlink()
    dicom_writer(src / "AllDICOMs" / "scan.dcm", np.zeros((4, 4), np.uint16))
    with pytest.raises(AnnotationError, match="scan.dcm: name is not INbreast's"):
        convert_dataset("inbreast", src, tmp_path / "c.json")
