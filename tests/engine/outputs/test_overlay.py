"""Overlay rendering: contours where the masks are, boxes, labels, fast on full-field images."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mammorcnn.engine.outputs import render_overlay, window_to_uint8, write_overlay_png
from mammorcnn.engine.outputs.overlay import PALETTE, place_label


def square_det(h: int, w: int, box: list[float], square: tuple[int, int, int, int]) -> dict:
    mask = np.zeros((1, h, w), dtype=np.float32)
    r0, r1, c0, c1 = square
    mask[0, r0:r1, c0:c1] = 0.9
    return {"boxes": [box], "scores": [0.87], "masks": mask}


def test_contour_is_on_the_mask_edge_at_full_resolution() -> None:
    image = np.linspace(0, 1, 80 * 100, dtype=np.float32).reshape(80, 100)
    det = square_det(80, 100, [60, 50, 90, 75], (10, 20, 10, 20))
    rgb = render_overlay(image, det)
    assert rgb.shape == (80, 100, 3)
    colour = np.array(PALETTE[0])
    edge = np.zeros((80, 100), dtype=bool)
    edge[10:20, 10:20] = True
    edge[11:19, 11:19] = False
    painted = (rgb == colour).all(axis=2)
    assert painted[edge].all()
    assert not painted[11:19, 11:19].any()  # interior keeps the image
    assert not painted[:8, :8].any()
    assert (rgb[75, 90] == colour).all() and (rgb[62, 60] == colour).all()  # box edges


def test_downscaled_contour_follows_the_mask() -> None:
    h, w = 4000, 3000
    image = np.random.default_rng(0).random((h, w), dtype=np.float32)
    det = square_det(h, w, [1000, 2000, 1400, 2400], (2000, 2400, 1000, 1400))
    rgb = render_overlay(image, det, max_side=1000)
    assert rgb.shape == (1000, 750, 3)
    painted = (rgb == np.array(PALETTE[0])).all(axis=2)
    painted[:498] = False  # the score label sits just above the box
    rows, cols = np.nonzero(painted)
    # The square [2000, 2400) x [1000, 1400) maps to [500, 600) x [250, 350) at scale 1/4.
    assert abs(rows.min() - 500) <= 2 and abs(rows.max() - 599) <= 2
    assert abs(cols.min() - 250) <= 2 and abs(cols.max() - 349) <= 2
    assert not painted[510:590, 260:340].any()


def test_write_overlay_png_and_threshold(tmp_path) -> None:
    image = np.zeros((50, 60), dtype=np.float32)
    image[10:40, 10:50] = np.linspace(100, 4000, 40)
    det = square_det(50, 60, [5, 5, 30, 30], (10, 20, 10, 20))
    path = write_overlay_png(image, det, tmp_path / "o.png", score_threshold=0.9)
    shown = np.asarray(Image.open(path))
    assert shown.shape == (50, 60, 3)
    assert (shown[..., 0] == shown[..., 1]).all()  # below the threshold: nothing drawn
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_window_ignores_background() -> None:
    image = np.zeros((100, 100), dtype=np.float32)
    image[:, 50:] = np.linspace(1000, 2000, 50)
    out = window_to_uint8(image)
    assert out[0, 0] == 0 and out[:, 50:].max() == 255
    assert 100 < out[0, 75] < 155  # mid-tissue lands mid-grey


def _text_pixels(rgb: np.ndarray, colour: tuple[int, int, int], box: list[int]) -> int:
    """Pixels of ``colour``'s hue (antialiased text blends it with black) off ``box``'s 1-px
    outline, on a grey image: the label's text."""
    rgb = rgb.astype(int)
    painted = (
        (rgb.max(axis=2) - rgb.min(axis=2) > 30)
        & (rgb.argmax(axis=2) == int(np.argmax(colour)))
        & (rgb.argmin(axis=2) == int(np.argmin(colour)))
    )
    x1, y1, x2, y2 = box
    painted[[y1, y2], x1 : x2 + 1] = False
    painted[y1 : y2 + 1, [x1, x2]] = False
    return int(painted.sum())


def test_a_low_score_label_is_not_hidden_under_a_high_one() -> None:
    """Two nearby boxes whose usual label places (just above each box) overlap."""
    image = np.tile(np.linspace(0.2, 0.8, 300, dtype=np.float32), (200, 1))
    high, low = [100, 80, 160, 140], [104, 86, 170, 150]
    both = {"boxes": [high, low], "scores": [0.81, 0.13]}
    rgb = render_overlay(image, both)
    alone = Image.fromarray(render_overlay(image, {"boxes": [], "scores": []}))
    font = ImageFont.load_default(size=12)  # render_overlay's size for a 300-px canvas
    place_label(ImageDraw.Draw(alone), tuple(map(float, low)), "2: 0.13", PALETTE[1], font, [])
    alone = np.asarray(alone)
    text = _text_pixels(alone, PALETTE[1], low)
    assert text > 20  # "2: 0.13" drawn when alone
    assert _text_pixels(rgb, PALETTE[1], low) == text  # ... and whole beside the 0.81 label
    assert _text_pixels(rgb, PALETTE[0], high) == _text_pixels(
        render_overlay(image, {"boxes": [high], "scores": [0.81]}), PALETTE[0], high
    )  # the best label keeps its usual place, whole


def test_place_label_tries_places_until_none_overlaps() -> None:
    canvas = Image.new("RGB", (300, 200), (128, 128, 128))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    a, b = (100.0, 80.0, 160.0, 140.0), (104.0, 86.0, 170.0, 150.0)
    usual_a = place_label(draw, a, "1: 0.81", (255, 0, 0), font, [])
    usual_b = place_label(draw, b, "2: 0.13", (0, 255, 0), font, [])
    assert usual_a[3] <= a[1] and usual_b[3] <= b[1]  # usually just above the box ...
    assert _overlap(usual_a, usual_b)  # ... where these two collide
    taken: list = []
    first = place_label(draw, a, "1: 0.81", (255, 0, 0), font, taken)
    second = place_label(draw, b, "2: 0.13", (0, 255, 0), font, taken)
    assert first == usual_a and taken == [first, second]
    assert not _overlap(first, second)
    assert second[1] >= b[3]  # the next place tried: below its box
    third = place_label(draw, (0.0, 0.0, 40.0, 30.0), "3: 0.05", (0, 0, 255), font, taken)
    assert third[1] >= 0 and not any(_overlap(third, r) for r in (first, second))


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def test_labels_name_the_class_when_given(overlay_label_texts: list[str]) -> None:
    """With class names, each label says which class its mark is, best first."""
    from mammorcnn.engine.outputs import overlay

    texts = overlay_label_texts
    det = {
        "boxes": np.array([[10, 10, 40, 40], [60, 60, 90, 90], [5, 60, 30, 90]], float),
        "scores": np.array([0.9, 0.5, 0.3]),
        "labels": np.array([2, 1, 7]),
    }
    image = np.full((100, 100), 0.5, np.float32)
    overlay.render_overlay(image, det, class_names=["mass", "architectural_distortion"])
    assert texts == ["1 architectural distortion: 0.90", "2 mass: 0.50", "3 class 7: 0.30"]
    texts.clear()
    overlay.render_overlay(image, det)
    assert texts == ["1: 0.90", "2: 0.50", "3: 0.30"]
