"""``read_image``: pick the decoder from the file's content (not its extension) and wrap it."""

from __future__ import annotations

import os
from pathlib import Path

from mammorcnn.data.io.dicom import read_dicom
from mammorcnn.data.io.raster import read_raster
from mammorcnn.data.io.raw import RawImage
from mammorcnn.errors import ImageReadError

#: Extensions under which a file without the 'DICM' marker is still tried as DICOM
#: (old ACR-NEMA-style exports without the 128-byte preamble).
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic", ""}
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"P2", b"P5")


def read_image(path: str | os.PathLike[str]) -> RawImage:
    """Read a mammogram (DICOM, PNG, TIFF, PGM) as float32 pixels plus JSON-safe ``meta``.

    Every problem a file can have raises :class:`~mammorcnn.errors.ImageReadError` naming the
    file and the problem; no decoder exception escapes.
    """
    path = Path(path)
    try:
        if not path.is_file():
            problem = "is a directory, not an image" if path.is_dir() else "file not found"
            raise ImageReadError(path, problem)
        with path.open("rb") as handle:
            head = handle.read(132)
    except ImageReadError:
        raise
    except OSError as exc:
        raise ImageReadError(path, f"cannot be opened ({exc.strerror or exc})") from exc
    if not head:
        raise ImageReadError(path, "empty file (0 bytes)")
    if head[128:132] == b"DICM":
        return read_dicom(path, has_preamble=True)
    if head.startswith(_RASTER_MAGIC):
        return read_raster(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return read_dicom(path, has_preamble=False)
    # Unknown content under a raster extension: let Pillow identify it (and name the problem).
    return read_raster(path)
