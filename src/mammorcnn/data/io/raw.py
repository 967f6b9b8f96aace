"""The decoded image every reader returns, and the limits every reader enforces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.errors import ImageReadError

#: Largest image (rows x columns) any reader decodes. Checked from the header *before*
#: decoding, so a corrupt or hostile header cannot make us allocate gigabytes. Real
#: full-field mammograms are 5-40 megapixels; 100 MP leaves room for large film scans.
MAX_PIXELS = 100_000_000

#: Mammography view codes (DICOM ViewPosition defined terms for MG), recognised in
#: ViewPosition, in CBIS-DDSM's PatientOrientation, and as tokens in file names.
VIEW_CODES = frozenset({"CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV"})
#: File-name tokens that carry the side as well (``RCC``, ``LMLO``): only the view is taken.
_SIDED = {f"{side}{view}": view for side in "RL" for view in ("CC", "MLO", "ML", "LM")}


@dataclass
class RawImage:
    """A single-channel image at full bit depth, before any preprocessing.

    ``pixels`` is float32 (H, W), brighter = denser tissue (MONOCHROME2 sense), after the DICOM
    modality and VOI LUTs. ``meta`` is JSON-safe: ``kind``, ``shape``, ``laterality``,
    ``laterality_source``, ``view``, ``view_source``, ``photometric``, ``bits``, and for DICOM
    the four UIDs needed to reference the source (no patient-identifying tags).
    """

    pixels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def view_from_text(text: str) -> str | None:
    """Find a view code as a separate token in ``text`` (e.g. ``P_00173_RIGHT_CC.png`` -> CC).

    Tokens are split on anything that is not a letter, so ``mdb001`` or ``1-132`` give None
    instead of a guess.
    """
    for token in re.split(r"[^A-Za-z]+", text.upper()):
        if token in VIEW_CODES:
            return token
        if token in _SIDED:
            return _SIDED[token]
    return None


def check_pixel_count(path: Path | str, rows: int, cols: int, what: str = "image") -> None:
    """Refuse an empty image or one over :data:`MAX_PIXELS`, from its header, before decoding."""
    if rows < 1 or cols < 1:
        raise ImageReadError(path, f"{what} has no pixels ({rows}x{cols})")
    if rows * cols > MAX_PIXELS:
        raise ImageReadError(
            path,
            f"image of {rows}x{cols} = {rows * cols} pixels exceeds the limit of "
            f"{MAX_PIXELS} pixels (mammorcnn.data.io.MAX_PIXELS); refused before decoding",
        )
