"""Overlay PNG a radiologist can read at a glance: the image, mask contours, boxes, scores.

The image is windowed on the breast (percentiles of the non-background pixels), shown
downscaled to at most ``max_side`` pixels (a 4000x3000 mammogram is more than a screen shows,
and the PNG stays small). Masks are reduced with area averaging, so a lesion's contour sits
where its full-resolution mask is, and only the region around each mask is resampled, which
keeps it fast on full-field images. Hand-written instead of skimage (not a dependency).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.outputs.detections import Detections, as_detections

# Colour-blind-friendly, high-contrast on grey (Okabe-Ito without the greys).
PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
           (213, 94, 0), (204, 121, 167)]  # fmt: skip


def window_to_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Map intensities to 0..255 between percentiles of the pixels above the minimum.

    The minimum is usually the air around the breast; leaving it out keeps the window on
    tissue, which is what a reader needs to see.
    """
    img = np.asarray(image, dtype=np.float32)
    sample = img[:: max(1, img.shape[0] // 512), :: max(1, img.shape[1] // 512)]
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return np.zeros(img.shape, dtype=np.uint8)
    tissue = finite[finite > finite.min()]
    values = tissue if tissue.size > 16 else finite
    lo, hi = np.percentile(values, [low_pct, high_pct])
    if hi <= lo:
        hi = lo + 1.0
    scaled = (np.nan_to_num(img, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _display_mask(
    mask: np.ndarray, sx: float, sy: float, out_shape: tuple[int, int]
) -> tuple[np.ndarray, int, int] | None:
    """The mask at display scale around its extent: (bool crop, row0, col0), or None if empty.

    Display pixel (i, j) covers original [i/sy, (i+1)/sy) x [j/sx, (j+1)/sx), the same mapping
    PIL uses for the image, so the contour lands on the displayed lesion.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    # Display window with one pixel of margin, so the contour is closed at the crop's edges.
    r0, c0 = max(int(rows[0] * sy) - 1, 0), max(int(cols[0] * sx) - 1, 0)
    r1 = min(int(np.ceil((rows[-1] + 1) * sy)) + 1, out_shape[0])
    c1 = min(int(np.ceil((cols[-1] + 1) * sx)) + 1, out_shape[1])
    # The original pixels under that window, then an exact (float) box inside the crop.
    R0, C0 = int(r0 / sy), int(c0 / sx)  # noqa: N806
    R1 = min(int(np.ceil(r1 / sy)), mask.shape[0])  # noqa: N806
    C1 = min(int(np.ceil(c1 / sx)), mask.shape[1])  # noqa: N806
    crop = Image.fromarray(mask[R0:R1, C0:C1].astype(np.uint8) * 255)
    box = (c0 / sx - C0, r0 / sy - R0, c1 / sx - C0, r1 / sy - R0)
    small = crop.resize((c1 - c0, r1 - r0), Image.BOX, box=box)
    return np.asarray(small) >= 128, r0, c0


def display_canvas(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """(uint8 RGB of the windowed image downscaled to at most ``max_side``, sx, sy): the exact
    per-axis factors from original to display pixels."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    h, w = img.shape
    scale = min(1.0, max_side / max(h, w))
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    if scale < 1.0:
        img = np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.BOX))
    return np.repeat(window_to_uint8(img)[..., None], 3, axis=2), out_w / w, out_h / h


def draw_contour(
    rgb: np.ndarray,
    mask: np.ndarray,
    colour: tuple[int, int, int],
    sx: float,
    sy: float,
    thickness: int = 1,
) -> None:
    """Paint the contour of a full-resolution bool mask onto the display canvas, in place."""
    out_h, out_w = rgb.shape[:2]
    found = _display_mask(mask, sx, sy, (out_h, out_w))
    if found is None:
        return
    small, r0, c0 = found
    edge = small & ~ndimage.binary_erosion(small, border_value=0)
    if thickness > 1:
        edge = ndimage.binary_dilation(edge, iterations=thickness - 1)
    rr, cc = np.nonzero(edge)
    rgb[np.minimum(rr + r0, out_h - 1), np.minimum(cc + c0, out_w - 1)] = colour


#: A label's rectangle on the canvas, (x1, y1, x2, y2) inclusive as PIL draws it.
Rect = tuple[float, float, float, float]


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def place_label(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    text: str,
    colour: tuple[int, int, int],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    taken: list[Rect],
) -> Rect:
    """Draw ``text`` on black beside ``box`` where it hides no label in ``taken``; return its
    rectangle (also appended to ``taken``).

    Tried in order: the usual place (above the box, or just inside its top edge when there is
    no room above), then above, below, inside the top and inside the bottom edge, then the
    nearest free height at the same column. Two nearby detections' labels (a 0.13 under a
    0.81) would otherwise be drawn one over the other. Only a canvas full of labels overlaps.
    """
    canvas_w, canvas_h = draw.im.size
    x1, y1, x2, y2 = box
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 6
    tx = min(max(x1, 0), max(canvas_w - w, 0))
    above, inside_top = y1 - h, y1 + 2
    heights = [above if above >= 0 else inside_top, above, y2 + 2, inside_top, y2 - h - 2]
    heights += sorted(range(0, max(canvas_h - h, 0) + 1, 2), key=lambda y: abs(y - heights[0]))
    rects = [(tx, y, tx + w, y + h) for y in heights if 0 <= y and y + h <= max(canvas_h, h)]
    rect = next((r for r in rects if not any(_overlaps(r, t) for t in taken)), None)
    rect = rect or (tx, heights[0], tx + w, heights[0] + h)
    draw.rectangle(list(rect), fill=(0, 0, 0))
    draw.text((rect[0] + 3 - left, rect[1] + 3 - top), text, fill=colour, font=font)
    taken.append(rect)
    return rect


def draw_box_label(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    text: str,
    colour: tuple[int, int, int],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    width: int,
    canvas_w: int,
    taken: list[Rect] | None = None,
) -> None:
    """A display-pixel box with ``text`` on black beside it (see :func:`place_label`).

    Pass one ``taken`` list for every label of a canvas so none hides another; draw the
    boxes first (``text=""``) and the labels best first, so the best gets the usual place.
    ``canvas_w`` is kept for callers; the canvas size is read from ``draw``.
    """
    draw.rectangle(list(box), outline=colour, width=width)
    if text:
        place_label(draw, box, text, colour, font, [] if taken is None else taken)


def class_name(class_names: Sequence[str], label: int) -> str:
    """Label k's class as a reader writes it ("architectural_distortion" -> "architectural
    distortion"); a label outside the list shows as its number."""
    if not 1 <= int(label) <= len(class_names):
        return f"class {int(label)}"
    return str(class_names[int(label) - 1]).replace("_", " ")


def render_overlay(
    image: np.ndarray,
    detections: Mapping[str, Any] | Detections,
    max_side: int = 2048,
    score_threshold: float = 0.0,
    mask_threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """uint8 RGB overlay (also usable for TensorBoard): contours, boxes and "k: score", or
    "k class: score" with ``class_names`` (label k is ``class_names[k - 1]``), so that a model
    of several finding types shows which one each mark is."""
    det = as_detections(detections)
    det = det.keep(det.scores >= score_threshold)
    rgb, sx, sy = display_canvas(image, max_side)
    out_h, out_w = rgb.shape[:2]
    masks = det.binary_masks(mask_threshold)
    thickness = max(1, round(max(out_w, out_h) / 800))
    order = np.argsort(det.scores, kind="stable")  # best drawn last, on top
    for k in order:
        if masks is not None:
            draw_contour(rgb, masks[k], PALETTE[int(k) % len(PALETTE)], sx, sy, thickness)
    canvas = Image.fromarray(rgb)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, round(max(out_w, out_h) / 70)))
    scale = np.array([sx, sy, sx, sy])
    boxes = {k: tuple(float(v) for v in np.asarray(det.boxes[k], float) * scale) for k in order}
    width = max(1, thickness // 2)
    for k in order:  # every box first, so no outline is drawn across a label
        draw_box_label(draw, boxes[k], "", PALETTE[int(k) % len(PALETTE)], font, width, out_w)
    taken: list[Rect] = []
    for k in order[::-1]:  # the best label first: it gets the usual place
        kind = "" if class_names is None else f" {class_name(class_names, det.labels[k])}"
        text, colour = f"{k + 1}{kind}: {det.scores[k]:.2f}", PALETTE[int(k) % len(PALETTE)]
        place_label(draw, boxes[k], text, colour, font, taken)
    return np.asarray(canvas)


def write_overlay_png(
    image: np.ndarray,
    detections: Mapping[str, Any] | Detections,
    path: Path,
    max_side: int = 2048,
    score_threshold: float = 0.0,
    mask_threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Render :func:`render_overlay` and write it as PNG, atomically."""
    rgb = render_overlay(image, detections, max_side, score_threshold, mask_threshold, class_names)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=3)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
