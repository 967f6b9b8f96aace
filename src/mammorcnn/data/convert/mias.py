"""mini-MIAS: ``Info.txt`` + ``mdbNNN.pgm`` (1024x1024) -> COCO with circle masks.

Info.txt rows: ``REFNUM BG CLASS [SEVERITY X Y RADIUS]``. The origin of (X, Y) is the
BOTTOM-LEFT corner of the image. We read X, Y as pixel indices counted from the left column and
the bottom row, so the centre pixel is (row = H - 1 - Y, column = X); for the 1024-pixel images
row = 1023 - Y (e.g. mdb001 ``G CIRC B 535 425 197``: centre at row 598, column 535). The mask
is every pixel whose centre lies within RADIUS of the centre pixel's centre.

A row of an unselected class (CALC, ARCH, ASYM with the default ``mass``) marks its image
``has_other_findings`` instead of leaving it looking normal. Every image is an MLO view.

Patients and sides: Info.txt's note 1 says the films come in pairs of one woman, "the left
(even filename numbers) and right mammograms (odd filename numbers)", numbered from 001
(mdb001+mdb002, ...): patient ``mias_{(N + 1) // 2:03d}`` and laterality R for odd N, L for
even N. The database's word beats a guess from the pixels: on the 226 images of the
development half the two agree except on mdb151/mdb152, whose breasts fill the film so that
the image-content guess (the half with more breast) picks the wrong side.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mammorcnn.data.convert.builder import CocoBuilder
from mammorcnn.data.convert.common import normalize_pathology
from mammorcnn.data.convert.files import image_size, index_files
from mammorcnn.errors import AnnotationError, InputError

CLASSES = {
    "CIRC": "mass",  # well-defined/circumscribed
    "SPIC": "mass",  # spiculated
    "MISC": "mass",  # other, ill-defined
    "CALC": "calcification",
    "ARCH": "architectural_distortion",
    "ASYM": "asymmetry",
    "NORM": None,
}
_REF = re.compile(r"^mdb(\d{3})$", re.IGNORECASE)


def circle_mask(height: int, width: int, row: float, col: float, radius: float) -> np.ndarray:
    """Pixels whose centre is within ``radius`` of pixel (row, col)'s centre."""
    rr, cc = np.ogrid[:height, :width]
    return (rr - row) ** 2 + (cc - col) ** 2 <= radius**2


def _read_info(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise AnnotationError(path, f"cannot read ({e.strerror or e})") from None
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1)]
    rows = [(n, t) for n, t in rows if t and _REF.match(t[0])]  # notes and headers are prose
    if not rows:
        raise AnnotationError(path, "no mini-MIAS rows (lines starting with mdbNNN) found")
    return rows


def convert_mias(src: Path, b: CocoBuilder) -> None:
    """Fill ``b`` from a mini-MIAS folder (or its Info.txt)."""
    info = src if src.is_file() else next(iter(sorted(src.rglob("Info.txt"))), None)
    if info is None:
        raise AnnotationError(src, "no Info.txt found (mini-MIAS expects Info.txt + mdbNNN.pgm)")
    images = index_files(info.parent, (".pgm", ".png", ".tif", ".tiff")).by_stem
    for n, tokens in _read_info(info):
        ref = tokens[0].lower()
        where = f"{info} (line {n})"
        if len(tokens) < 3 or tokens[2].upper() not in CLASSES:
            b.fail(ref, where, f"{ref}: unknown or missing class in {' '.join(tokens)!r}")
            continue
        files = images.get(ref, [])
        if not files:
            b.fail(ref, where, f"{ref}: no image file {ref}.pgm under {info.parent}")
            continue
        try:
            h, w = image_size(files[0])
        except InputError as e:
            b.fail(ref, e.path or where, e.problem)
            continue
        number = int(_REF.match(ref).group(1))
        patient, side = f"mias_{(number + 1) // 2:03d}", "R" if number % 2 else "L"
        b.add_image(
            ref, files[0], h, w, patient_id=patient, view="MLO", laterality=side, tissue=tokens[1]
        )
        lesion = CLASSES[tokens[2].upper()]
        if lesion is None or not b.wants(lesion, tokens[2].upper(), ref):
            continue
        if len(tokens) < 7:
            b.leave_out(ref, where, f"{ref}: {tokens[2]} row without coordinates; image left out")
            continue
        try:
            x, y, radius = float(tokens[4]), float(tokens[5]), float(tokens[6])
        except ValueError:
            b.fail(ref, where, f"{ref}: x, y, radius are not numbers: {tokens[4:7]}")
            continue
        row = h - 1 - y  # bottom-left origin -> top-down row index
        if not (0 <= x < w and 0 <= row < h and 0 < radius < max(h, w)):
            b.fail(ref, where, f"{ref}: centre ({x}, {y}) or radius {radius} outside the image")
            continue
        pathology = normalize_pathology(tokens[3])
        label = b.label(lesion, pathology)
        if label is None:
            b.fail(ref, where, f"{ref}: unknown severity {tokens[3]!r} (B or M expected)")
            continue
        extra = {"lesion_type": lesion, "mias_class": tokens[2].upper(), "pathology": pathology}
        b.add_mask(ref, circle_mask(h, w, row, x, radius), label, **extra)
