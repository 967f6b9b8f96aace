"""Full CSVs with a partial set of images: `convert --skip-bad` prints a summary by cause that
fits a screen, and skipped.json lists every case."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mammorcnn.cli.main import main

from .test_convert_cbis import HEADER as CBIS_HEADER
from .test_convert_cbis import write_cbis
from .test_convert_vindr import HEADER as VINDR_HEADER
from .test_convert_vindr import ROWS as VINDR_ROWS
from .test_convert_vindr import write_vindr

SCREEN = 25  # lines


def _run(argv: list[object], capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture):
    caplog.clear()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, (out + err + caplog.text).splitlines()


def test_cbis_partial_download(
    tmp_path: Path, dicom_writer: Callable, capsys: pytest.CaptureFixture, caplog
) -> None:
    src = write_cbis(tmp_path / "cbis", dicom_writer)
    rows = []
    for n in range(1, 301):  # cases listed in the CSV but not downloaded; paths end in "\n"
        case = f"Mass-Test_P_{n:05d}_LEFT_CC"
        full, roi = f"{case}/1.3.6/1.3.7/000000.dcm", f'"{case}_1/1.3.6/1.3.8/000000.dcm\n"'
        rows.append(f"P_{n:05d},2,LEFT,CC,1,mass,OVAL,CIRC,3,BENIGN,2,{full},{roi},{roi}")
    text = "\r\n".join([CBIS_HEADER, *rows]) + "\r\n"
    (src / "mass_case_description_test_set.csv").write_text(text, newline="")
    out = tmp_path / "out" / "cbis.json"
    code, lines = _run(["convert", "--format", "cbis-ddsm", src, out], capsys, caplog)
    assert code == 2 and len(lines) == 1  # strict: the first missing case, one line
    assert "mass_case_description_test_set.csv (line 2): no DICOM found for image" in lines[0]
    code, lines = _run(
        ["convert", "--format", "cbis-ddsm", src, out, "--skip-bad", "--official-split"],
        capsys,
        caplog,
    )
    assert code == 0 and len(lines) <= SCREEN, "\n".join(lines)
    assert sum("300 x no DICOM found for image '…'" in line for line in lines) == 1
    skipped = json.loads((out.parent / "skipped.json").read_text())
    # two quoted paths with a newline each: record k starts at line 2 + 3 (k - 1)
    assert len(skipped) == 300 and skipped[-1]["file"].endswith("test_set.csv (line 899)")
    assert {s["image"] for s in skipped} == {f"P_{n:05d}_L_CC/test" for n in range(1, 301)}
    assert (out.parent / "cbis_train.json").is_file()


def test_vindr_partial_download(
    tmp_path: Path, dicom_writer: Callable, capsys: pytest.CaptureFixture, caplog
) -> None:
    missing = [f"s{n},x,img{n:032x},L,CC,60,40,,,['No Finding'],,,,,,training" for n in range(500)]
    src = write_vindr(tmp_path / "vindr", dicom_writer, VINDR_ROWS + missing)
    (src / "images" / "s2" / "i3.dicom").write_bytes(b"")  # a broken file: another cause
    out = tmp_path / "vindr.json"
    code, lines = _run(["convert", "--format", "vindr", src, out, "--skip-bad"], capsys, caplog)
    assert code == 0 and len(lines) <= SCREEN, "\n".join(lines)
    assert any("500 x no image file for the row's image_id" in line for line in lines)
    assert any("1 x DICOM header has no valid Rows/Columns (e.g. i3.dicom: " in x for x in lines)
    skipped = json.loads((tmp_path / "skipped.json").read_text())
    assert len(skipped) == 501 and all(s["problem"] and s["cause"] for s in skipped)
    assert VINDR_HEADER.startswith("study_id")
