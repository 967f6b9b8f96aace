"""Output names from untrusted input names never leave the output folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mammorcnn.engine.outputs import safe_output_name, safe_output_path, unique_output_names
from mammorcnn.errors import InputError

SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("1-1.dcm", "1-1.dcm"),
        ("../../etc/passwd", "passwd"),
        ("..", "image"),
        ("/abs/path/scan", "scan"),
        ("C:\\Windows\\System32\\evil", "evil"),
        ("a\x00b", "ab"),
        ("name with spaces & $tuff", "name_with_spaces_tuff"),
        ("..hidden", "hidden"),
        ("trailing. . .", "trailing"),
        ("CON", "_CON"),
        ("nul.png", "_nul.png"),
        ("com1", "_com1"),
        ("LPT9.txt", "_LPT9.txt"),
        ("console", "console"),
        ("Müller^Anna", "M_ller_Anna"),
        ("-rf", "rf"),
        ("scan (1)", "scan_1"),
        ("", "image"),
        ("///", "image"),
    ],
)
def test_known_names(name: str, expected: str) -> None:
    assert safe_output_name(name) == expected


def test_long_names_are_cut_and_stay_distinct() -> None:
    a = safe_output_name("x" * 5000 + "a")
    b = safe_output_name("x" * 5000 + "b")
    assert len(a) == len(b) == 120 and a != b
    assert len(safe_output_name("y" * 300, max_length=40)) == 40


def test_unique_names() -> None:
    names = ["case1/1-1.dcm", "case2/1-1.dcm", "case3/1-1.DCM", "other.dcm", "1-1.dcm-2"]
    assert unique_output_names(names) == ["1-1.dcm", "1-1.dcm-2", "1-1.DCM-3", "other.dcm",
                                          "1-1.dcm-2-2"]  # fmt: skip
    assert len({n.lower() for n in unique_output_names(names)}) == len(names)


def test_safe_output_path(tmp_path: Path) -> None:
    assert safe_output_path(tmp_path, "a_overlay.png") == (tmp_path / "a_overlay.png").resolve()
    for stem in ("scan (1)", "a b ", "CON", "x" * 300, "..__"):  # a name plus a fixed suffix
        name = f"{safe_output_name(stem)}_mask.png"
        assert safe_output_path(tmp_path, name) == (tmp_path / name).resolve()
    for bad in ("../x.png", "/etc/x", "sub/x.png", "..", "CON"):
        with pytest.raises(InputError):
            safe_output_path(tmp_path, bad)


@settings(max_examples=300, deadline=None)
@example(name="0.:")  # once came out as "0.", then "0" on a second pass
@given(st.text(max_size=300) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_any_name_stays_inside(name: str) -> None:
    out = Path("/nonexistent/out")
    safe = safe_output_name(name)
    assert SAFE.match(safe) and len(safe) <= 120
    assert safe.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
    path = (out / safe).resolve()
    assert path.parent == out
    assert safe_output_name(safe) == safe  # idempotent
