"""Review overlays: ground truth, true and false positives, and missed lesions, each in its own
colour, drawn on the original image's geometry (thumbnail and full size).

Colours are taken from the Okabe-Ito set (distinct for colour-blind readers) and differ from
each other in lightness as well, so the legend holds on a grey mammogram.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.metrics.matching import ImageDetections, ImageLesions, decode_rle
from mammorcnn.engine.outputs.overlay import (
    Rect,
    display_canvas,
    draw_box_label,
    draw_contour,
    place_label,
)

#: (key, legend text, RGB)
LEGEND: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("gt", "ground-truth lesion (found)", (86, 180, 233)),
    ("missed", "missed lesion", (240, 228, 66)),
    ("tp", "true positive (mark on a lesion)", (0, 158, 115)),
    ("fp", "false positive", (213, 94, 0)),
)
COLOURS = {key: rgb for key, _, rgb in LEGEND}
THUMB_SIDE = 256
FULL_SIDE = 2048


def render_review(
    image: np.ndarray,
    lesions: ImageLesions,
    detections: ImageDetections,
    record: dict,
    max_side: int,
    labels: bool = True,
) -> np.ndarray:
    """uint8 RGB: every lesion's contour (missed ones in their colour, with a box), and the
    marks at the operating point (``record["marks"]``) as contour and box, with their score."""
    rgb, sx, sy = display_canvas(image, max_side)
    out_h, out_w = rgb.shape[:2]
    thickness = max(1, round(max(out_w, out_h) / 500))
    boxes: list[tuple[tuple[float, ...], str, tuple[int, int, int]]] = []
    for g, info in enumerate(record["lesions"]):
        colour = COLOURS["gt" if info["found"] else "missed"]
        mask = lesions.mask(g)
        if mask is not None:
            draw_contour(rgb, mask, colour, sx, sy, thickness)
        if mask is None or not info["found"]:
            boxes.append(
                (_scaled(lesions.boxes[g], sx, sy), "missed" * (not info["found"]), colour)
            )
    for mark in reversed(record["marks"]):  # best drawn last, on top
        p, colour = mark["index"], COLOURS[mark["kind"]]
        rle = detections.masks[p] if detections.masks is not None else None
        if rle is not None:
            draw_contour(rgb, decode_rle(rle), colour, sx, sy, thickness)
        boxes.append((_scaled(detections.boxes[p], sx, sy), f"{mark['score']:.2f}", colour))
    canvas = Image.fromarray(rgb)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, round(max(out_w, out_h) / 70)))
    for box, _, colour in boxes:  # every box first, so no outline crosses a label
        draw_box_label(draw, box, "", colour, font, thickness, out_w)
    taken: list[Rect] = []  # labels best mark first (it gets the usual place), none hidden
    for box, text, colour in reversed(boxes) if labels else ():
        if text:
            place_label(draw, box, text, colour, font, taken)
    return np.asarray(canvas)


def _scaled(box: Sequence[float], sx: float, sy: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1 * sx, y1 * sy, x2 * sx, y2 * sy


def write_jpeg(rgb: np.ndarray, path: Path, quality: int = 88) -> tuple[int, int]:
    """Write atomically; JPEG keeps a thousand full-size overlays in hundreds of MB, not GB.
    Returns (width, height)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return rgb.shape[1], rgb.shape[0]
