"""INbreast: every ROI name the dataset uses mapped or reported, views from its own table
first, the shipped INbreast.xls read, and pathology said to be per image."""

from __future__ import annotations

import plistlib
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mammorcnn.cli.convert import summary_lines
from mammorcnn.data.coco import load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.data.convert.common import normalize_view
from mammorcnn.errors import AnnotationError

from .test_convert_inbreast import write_inbreast

POINT = ["(20, 20)"]
OUTLINE = ["(1, 1)", "(9, 1)", "(9, 9)", "(1, 9)"]
# the names found in the real AllXML files, each as a point or an outline
ROIS = [
    ("Spiculated Region", OUTLINE),
    ("Espiculated Region", OUTLINE),
    ("Spiculated region", OUTLINE),
    ("Point 1", POINT),
    ("Point 3", POINT),
    ("Unnamed", POINT),
    ("", POINT),
    ("Calcifications", POINT),
    ("Unnamed", OUTLINE),  # an unnamed outline: no way to tell its type
    ("Point 1", OUTLINE),
]


def _plist(rois: list[tuple[str, list[str]]]) -> bytes:
    roi_list = [{"Name": n, "Point_px": p, "NumberOfPoints": len(p)} for n, p in rois]
    return plistlib.dumps({"Images": [{"ImageIndex": 0, "ROIs": roi_list}]})


def test_every_roi_name_is_mapped_or_reported(tmp_path: Path, dicom_writer: Callable) -> None:
    src = write_inbreast(tmp_path / "INbreast", dicom_writer, xml_201=_plist(ROIS))
    out = tmp_path / "coco.json"
    report = convert_dataset("inbreast", src, out, lesion_types=("mass", "calcification"))
    anns = [a for a in load_coco(out)["annotations"] if a["image_id"] == 3]
    assert [(a["inbreast_name"], a["lesion_type"]) for a in anns] == [
        ("Spiculated Region", "mass"),
        ("Espiculated Region", "mass"),
        ("Spiculated region", "mass"),
        ("Point 1", "calcification"),
        ("Point 3", "calcification"),
        ("Unnamed", "calcification"),
        ("", "calcification"),
        ("Calcifications", "calcification"),
    ]
    assert report.unknown == {"ROI name 'Unnamed' (outline)": 1, "ROI name 'Point 1' (outline)": 1}
    assert load_coco(out)["images"][2]["has_other_findings"] == ["unknown"]
    assert any("'Unnamed' (outline) 1" in line for line in summary_lines(report))
    # with masses only, every ROI is still accounted for: annotated, ignored or unknown
    report = convert_dataset("inbreast", src, out)
    on_201 = 3 + sum(report.ignored.values()) - 2  # 101.xml's Calcification and Cluster
    assert on_201 + sum(report.unknown.values()) == len(ROIS)


def test_calcification_only_image_is_marked_not_normal(
    tmp_path: Path, dicom_writer: Callable
) -> None:
    calcs = _plist([("Calcification", POINT), ("Cluster", OUTLINE)])
    src = write_inbreast(tmp_path / "INbreast", dicom_writer, xml_201=calcs)
    report = convert_dataset("inbreast", src, tmp_path / "c.json")
    images = load_coco(report.out_json)["images"]
    assert [i.get("has_other_findings") for i in images] == [
        ["calcification"],
        None,
        ["calcification"],
    ]
    assert report.n_negative_images == 2 and report.n_other_findings_only == 1
    assert any("1 of the images without lesions hold findings" in x for x in summary_lines(report))


@pytest.mark.parametrize(
    ("text", "view"),
    [
        ("CC", "CC"),
        ("mlo", "MLO"),
        (" ML ", "ML"),
        ("LM", "LM"),  # latero-medial, not a left M
        ("RMLO", "MLO"),
        ("L-CC", "CC"),
        ("R CC", "CC"),
        ("xccl", "XCCL"),
        ("Cranio-caudal", "CC"),
        ("mediolateral oblique", "MLO"),
        ("MLO_", "MLO"),
        ("AXILLA", None),
        ("", None),
        (None, None),
    ],
)
def test_one_view_vocabulary(text: str | None, view: str | None) -> None:
    assert normalize_view(text) == view


def test_view_and_side_from_the_table_then_the_file_name(
    tmp_path: Path, dicom_writer: Callable
) -> None:
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    (src / "INbreast.csv").unlink()
    coco = load_coco(convert_dataset("inbreast", src, tmp_path / "c.json").out_json)
    assert [(i["view"], i["view_source"]) for i in coco["images"]] == [
        ("CC", "file name"),
        ("MLO", "file name"),  # the file says ML: INbreast's name for MLO
        ("CC", "file name"),
    ]
    (src / "INbreast.csv").write_text(
        "File Name;Laterality;View;Bi-Rads\n101;L;XCCL;4c\n102;L;MLO;1\n201;R;CC;2\n"
    )
    coco = load_coco(convert_dataset("inbreast", src, tmp_path / "c.json").out_json)
    assert [i["view"] for i in coco["images"]] == ["XCCL", "MLO", "CC"]


def _biff_record(kind: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def write_xls(path: Path, rows: list[list[str | float]]) -> Path:
    """A minimal BIFF8 workbook (one sheet; LABEL and NUMBER cells), as Excel 97 stores it."""

    def bof(kind: int) -> bytes:
        return _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))

    cells = b""
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, str):
                text = struct.pack("<HHHHB", r, c, 0, len(v), 0) + v.encode("latin-1")
                cells += _biff_record(0x0204, text)
            else:
                cells += _biff_record(0x0203, struct.pack("<HHHd", r, c, 0, v))

    def sheet(offset: int) -> bytes:
        return _biff_record(0x0085, struct.pack("<IBBBB", offset, 0, 0, 6, 0) + b"Sheet1")

    head = len(bof(5) + sheet(0) + _biff_record(0x000A))
    book = bof(5) + sheet(head) + _biff_record(0x000A) + bof(0x10) + cells
    path.write_bytes(book + _biff_record(0x000A))
    return path


XLS_ROWS: list[list[str | float]] = [
    ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date", "File Name", "ACR"]
    + ["Bi-Rads"],
    ["removed", "", "L", "CC", 201001.0, 101.0, 2.0, "4c"],
    ["removed", "", "L", "MLO", 201001.0, 102.0, 2.0, 1.0],
    ["removed", "", "R", "CC", 201001.0, 201.0, 1.0, 2.0],
]


def test_the_shipped_xls_is_read(tmp_path: Path, dicom_writer: Callable) -> None:
    pytest.importorskip("xlrd")
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    (src / "INbreast.csv").unlink()
    write_xls(src / "INbreast.xls", XLS_ROWS)
    out = tmp_path / "coco.json"
    report = convert_dataset("inbreast", src, out, class_mapping="pathology")
    coco = load_coco(out)
    assert [a["category_id"] for a in coco["annotations"]] == [2, 1, 1]  # 4c, 2, 2
    assert [i["birads"] for i in coco["images"]] == ["4c", "1", "2"]
    assert [(i["view"], i["view_source"]) for i in coco["images"]][1] == ("MLO", "INbreast.xls")
    # pathology is the image's: said in the summary and on every annotation
    note = "INbreast pathology is per image: the image's BI-RADS in INbreast.xls"
    assert any(line.startswith(f"note: {note}") for line in summary_lines(report))
    assert {a["pathology_source"] for a in coco["annotations"]} == {"image BI-RADS"}


def test_xls_without_xlrd_says_how_to_make_the_csv(
    tmp_path: Path, dicom_writer: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xlrd", None)  # import xlrd raises ImportError
    src = write_inbreast(tmp_path / "INbreast", dicom_writer)
    (src / "INbreast.csv").unlink()
    write_xls(src / "INbreast.xls", XLS_ROWS)
    out = tmp_path / "coco.json"
    with pytest.raises(AnnotationError, match=r"INbreast.xls: .*pip install xlrd.*INbreast.csv"):
        convert_dataset("inbreast", src, out, class_mapping="pathology")
    report = convert_dataset("inbreast", src, out)  # masses: the table is not needed
    assert any("views and laterality were taken from the file names" in n for n in report.notes)
    (src / "INbreast.xls").write_bytes(b"not a workbook")
    monkeypatch.delitem(sys.modules, "xlrd")
    pytest.importorskip("xlrd")
    with pytest.raises(AnnotationError, match="INbreast.xls: not a readable .xls workbook"):
        convert_dataset("inbreast", src, out, class_mapping="pathology")
