"""Which files `predict` reads: the files named, and the images found inside folders named.

Files named on the command line are always taken (the reader decides by content). Inside
folders only image-like names are taken, recursively and in sorted order (deterministic output
names), plus extension-less files with the DICOM 'DICM' marker, as PACS exports often name
files by UID only. Hidden files and anything inside the output folder are skipped, so a rerun
never reads the previous run's PNGs back in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mammorcnn.errors import InputError

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".tif", ".tiff", ".pgm"})
DICOM_MARKER_OFFSET = 128


def has_dicom_marker(path: Path) -> bool:
    """Whether bytes 128..131 are 'DICM' (the DICOM Part 10 preamble); False if unreadable."""
    try:
        with path.open("rb") as handle:
            handle.seek(DICOM_MARKER_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _wanted(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    return path.suffix.lower() in IMAGE_SUFFIXES or has_dicom_marker(path)


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def find_inputs(inputs: Sequence[Path], exclude: Path | None = None) -> list[Path]:
    """The image files of ``inputs`` (files and folders), without duplicates, in order.

    A path that does not exist raises InputError (most likely a typo, never skipped), as does
    finding no image at all.
    """
    excluded = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                folder = Path(root)
                if _inside(folder.resolve(), excluded):
                    dirs[:] = []
                    continue
                found += [folder / name for name in sorted(files) if _wanted(folder / name)]
        elif path.exists():
            found.append(path)
        else:
            raise InputError(path, "no such file or folder")
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if not unique:
        names = ", ".join(str(p) for p in inputs)
        raise InputError(
            None,
            f"no images found in {names} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} and "
            "DICOM files by their 'DICM' marker)",
        )
    return unique


def output_stem(path: Path) -> str:
    """The name outputs are derived from: the stem for image suffixes, else the whole name
    (a UID-named DICOM keeps its last UID component)."""
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name
