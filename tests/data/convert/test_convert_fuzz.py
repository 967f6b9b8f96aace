"""Fuzzing the converters: random or mutated annotation files never raise anything but the
project's own errors, strict or with skip_bad."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import MammoError

from .test_convert_cbis import write_cbis
from .test_convert_inbreast import XML_101, write_inbreast
from .test_convert_mias import INFO, write_mias
from .test_convert_vindr import HEADER as VINDR_HEADER
from .test_convert_vindr import ROWS as VINDR_ROWS
from .test_convert_vindr import write_vindr

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _run(fmt: str, src: Path, out: Path, skip_bad: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            convert_dataset(
                fmt, src, out, lesion_types=("mass", "calcification"), skip_bad=skip_bad
            )
        except MammoError:
            pass


def _mutate(data: st.DataObject, text: str) -> bytes:
    """Replace, delete or insert a few random characters (including odd bytes) in ``text``."""
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw)))
        junk = data.draw(st.binary(max_size=6) | st.sampled_from([b",", b";", b"'", b"[", b"\n"]))
        cut = data.draw(st.integers(0, 4))
        raw[pos : pos + cut] = junk
    return bytes(raw)


@st.composite
def contents(draw: st.DrawFn, text: str) -> bytes:
    """Either random bytes or a mutation of a valid file."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    return _mutate(draw(st.data()), text)


@FUZZ
@given(contents(INFO), st.booleans())
def test_mias(tmp_path: Path, content: bytes, skip_bad: bool) -> None:
    src = tmp_path / "mias"
    if not src.exists():
        write_mias(src, size=64)
    (src / "Info.txt").write_bytes(content)
    _run("mini-mias", src, tmp_path / "out.json", skip_bad)


@FUZZ
@given(contents("\n".join([VINDR_HEADER, *VINDR_ROWS])), st.booleans())
def test_vindr(tmp_path: Path, dicom_writer: Callable, content: bytes, skip_bad: bool) -> None:
    src = tmp_path / "vindr"
    if not src.exists():
        write_vindr(src, dicom_writer)
    (src / "finding_annotations.csv").write_bytes(content)
    _run("vindr-mammo", src, tmp_path / "out.json", skip_bad)


@FUZZ
@given(contents(XML_101), st.booleans())
def test_inbreast(tmp_path: Path, dicom_writer: Callable, content: bytes, skip_bad: bool) -> None:
    src = tmp_path / "inbreast"
    if not src.exists():
        write_inbreast(src, dicom_writer)
    (src / "AllXML" / "101.xml").write_bytes(content)
    (src / "INbreast.csv").write_bytes(content[::-1])
    _run("inbreast", src, tmp_path / "out.json", skip_bad)


@FUZZ
@given(st.data(), st.booleans())
def test_cbis(tmp_path: Path, dicom_writer: Callable, data: st.DataObject, skip_bad: bool):
    src = tmp_path / "cbis"
    if not src.exists():
        write_cbis(src, dicom_writer)
        (src / "valid.txt").write_bytes((src / "mass_case_description_train_set.csv").read_bytes())
    valid = (src / "valid.txt").read_text()
    (src / "mass_case_description_train_set.csv").write_bytes(data.draw(contents(valid)))
    _run("cbis-ddsm", src, tmp_path / "out.json", skip_bad)


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_coco(tmp_path: Path, content: bytes, skip_bad: bool) -> None:
    (tmp_path / "in.json").write_bytes(content)
    _run("coco", tmp_path / "in.json", tmp_path / "out.json", skip_bad)
