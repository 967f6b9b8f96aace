"""What tells a cross-validation's false marks from its true ones: size, shape, fill, place.

If false marks differed from true ones by something the detections already carry (a smaller
box, a ragged mask, a place such as the pectoral muscle), a rule on it would remove them; if
they do not, the model has to learn the difference from the image (docs/results.md, run log
of the twenty-eighth session). Reads CV_DIR/pooled/results.json (the pooled detections) and
the annotations named in CV_DIR/crossval.json; the images only to find the chest-wall side.

    python benchmarks/false_mark_features.py CV_DIR [--bands 0.3 0.5 0.7 1.01]

A detection is true when its box centre lies in a mass's box (evaluate's centre rule, with
the box for the outline). Box sides are in the original image's pixels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from mammorcnn.data.coco_codec import rle_area


def chest_wall_on_left(path: Path) -> bool:
    """The breast lies against the image's brighter half (the background is dark film)."""
    columns = np.asarray(Image.open(path).convert("L"), dtype=np.float32).mean(axis=0)
    half = columns.shape[0] // 2
    return bool(columns[:half].mean() > columns[half:].mean())


def detection_rows(cv_dir: Path) -> tuple[list[tuple], dict[int, dict]]:
    """(is true, score, box side, aspect w/h, mask fill of the box, image id, centre x, y)."""
    data_file = Path(json.loads((cv_dir / "crossval.json").read_text())["data"])
    if not data_file.is_absolute():
        data_file = (Path.cwd() / data_file).resolve()
    data = json.loads(data_file.read_text())
    images = {im["id"]: {**im, "path": data_file.parent / im["file_name"]} for im in data["images"]}
    boxes: dict[int, list] = {}
    for ann in data["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    rows = []
    for det in json.loads((cv_dir / "pooled" / "results.json").read_text()):
        x, y, w, h = det["bbox"]
        cx, cy = x + w / 2, y + h / 2
        hit = any(
            gx <= cx <= gx + gw and gy <= cy <= gy + gh
            for gx, gy, gw, gh in boxes.get(det["image_id"], [])
        )
        fill = rle_area(det["segmentation"]) / max(w * h, 1.0)  # no HxW decode per mark
        rows.append(
            (hit, det["score"], (w * h) ** 0.5, w / max(h, 1e-6), fill, det["image_id"], cx, cy)
        )
    return rows, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--bands", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.01])
    args = parser.parse_args()
    rows, images = detection_rows(args.cv_dir)
    print("| score | kind | count | median side | median w/h | median mask fill |")
    print("|---|---|---|---|---|---|")
    for lo, hi in zip(args.bands, args.bands[1:]):
        for hit, kind in ((True, "true"), (False, "false")):
            band = [r for r in rows if r[0] == hit and lo <= r[1] < hi]
            if band:
                side, aspect, fill = (float(np.median([r[i] for r in band])) for i in (2, 3, 4))
                print(
                    f"| {lo:g}-{hi:g} | {kind} | {len(band)} | {side:.0f} | {aspect:.2f} | {fill:.2f} |"
                )
    # Place of the false marks above the middle band: quarters of the image, counted from
    # the chest wall (columns) and from the top (rows).
    grid = np.zeros((4, 4), dtype=int)
    sides: dict[int, bool] = {}
    for hit, score, _, _, _, image_id, cx, cy in rows:
        if hit or score < args.bands[1]:
            continue
        image = images[image_id]
        if image_id not in sides:
            sides[image_id] = chest_wall_on_left(image["path"])
        width, height = image["width"], image["height"]
        from_wall = cx if sides[image_id] else width - cx
        grid[min(int(4 * cy / height), 3), min(int(4 * from_wall / width), 3)] += 1
    print(f"\nfalse marks scoring >= {args.bands[1]:g}, by quarter of the image")
    print("| from the top \\ from the chest wall | 1st | 2nd | 3rd | 4th |\n|---|---|---|---|---|")
    for k, row in enumerate(grid):
        print(f"| {k + 1} | " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
