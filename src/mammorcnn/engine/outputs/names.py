"""Output file names derived from untrusted input names or DICOM tags.

An input called ``../../etc/cron.d/x.dcm`` or a tag value ``C:\\Windows\\x`` must never make
`predict` write outside ``--out``. Names are reduced to a portable character set, stripped of
every directory part, kept clear of Windows device names and length limits, and made unique
(two inputs called ``1-1.dcm`` in different folders, common in CBIS-DDSM, must not overwrite
each other's results). Never derive names from patient-identifying tags (PatientName, ...).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from mammorcnn.errors import InputError

# Device names Windows reserves in any folder and with any extension ("nul.png" too).
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{base}{i}" for base in ("COM", "LPT") for i in range(10)
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Room left for the suffixes the CLI appends ("_overlay.png", "_seg.dcm") under the 255-byte
# limit of common file systems.
DEFAULT_MAX_LENGTH = 120


def safe_output_name(
    name: str, max_length: int = DEFAULT_MAX_LENGTH, default: str = "image"
) -> str:
    """A file name stem that is safe to join to the output folder.

    Only the last path component survives (``/`` and ``\\`` are both separators), characters
    outside ``A-Z a-z 0-9 . _ -`` become ``_``, leading dots/dashes and trailing dots go (no
    ``..``, no hidden files), Windows device names get a ``_`` prefix, and names longer than
    ``max_length`` are cut and given a short hash of the full name so they stay distinct.
    """
    text = str(name).replace("\x00", "")
    text = re.split(r"[/\\]", text)[-1]
    text = _UNSAFE.sub("_", text.rstrip(". ")).lstrip(".-").rstrip(".")
    # No trailing "_": the CLI appends "_mask.png" etc., and a doubled "__" would not survive
    # safe_output_path's re-check ("scan (1)" -> "scan_1", not "scan_1_").
    # Trailing "." and "_" together: "0.:" -> "0._" must end as "0", not "0." (a second
    # pass would then strip the dot, and a name must come out of this function unchanged).
    text = re.sub(r"_+", "_", text).rstrip("._")
    if not text.strip("._-"):
        text = default
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"_{text}"
    if len(text) > max_length:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{text[: max_length - 9].rstrip('.')}-{digest}"
    return text


def unique_output_names(names: Iterable[str], max_length: int = DEFAULT_MAX_LENGTH) -> list[str]:
    """:func:`safe_output_name` of each name, with ``-2``, ``-3``... added to repeats.

    Compared case-insensitively, because macOS and Windows file systems are.
    """
    seen: set[str] = set()
    out = []
    for name in names:
        base = safe_output_name(name, max_length)
        candidate, n = base, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{base}-{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def safe_output_path(out_dir: Path, file_name: str) -> Path:
    """``out_dir / file_name`` after checking it stays inside ``out_dir`` (defence in depth:
    ``file_name`` should already come from :func:`safe_output_name` plus a fixed suffix)."""
    root = Path(out_dir).resolve()
    path = (root / file_name).resolve()
    if path.parent != root or file_name != safe_output_name(file_name, max_length=255):
        raise InputError(file_name, f"unsafe output file name for folder {root}")
    return path
