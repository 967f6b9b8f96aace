"""How visible each annotated mass is after preprocessing, under several CLAHE settings.

A check before a training run, not a result: for every annotated lesion it preprocesses the
image as training would and prints the contrast-to-noise ratio of the lesion against the
tissue around it, (mean inside 0.7 r - mean of the ring 1.2 r to 2 r) / sd of that ring,
with r the half-width of the lesion's box in model pixels and only breast pixels counted:

    python benchmarks/mass_contrast.py mias/all.json --size 512 --clahe 0.01:0.125 0.01:0.25

Each ``--clahe CLIP:FRACTION`` adds a column (``data.preprocess.clahe_clip_limit`` and
``clahe_kernel_fraction``); the first column is always CLAHE off. Prints Markdown. It reads
the images named in the COCO file and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mammorcnn.data.coco import load_coco, resolve_image_path
from mammorcnn.data.io import read_image
from mammorcnn.data.preprocess import PreprocessConfig, preprocess


def lesion_cnr(image: np.ndarray, box: np.ndarray) -> float:
    """Contrast-to-noise ratio of the disc in ``box`` (model x1, y1, x2, y2) against its ring."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = max(box[2] - box[0], box[3] - box[1]) / 2
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    d = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy)
    breast = image > 0
    inside, ring = (d < 0.7 * r) & breast, (d > 1.2 * r) & (d < 2 * r) & breast
    if inside.sum() < 4 or ring.sum() < 4:
        return float("nan")
    return float((image[inside].mean() - image[ring].mean()) / (image[ring].std() + 1e-6))


def parse_setting(text: str) -> tuple[float, float]:
    clip, _, fraction = text.partition(":")
    return float(clip), float(fraction or 0.125)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("coco", type=Path, help="COCO file of the images and their lesions")
    p.add_argument("--size", type=int, default=512, help="data.preprocess.image_size")
    p.add_argument("--clahe", nargs="*", default=["0.01:0.125"], help="CLIP:FRACTION ...")
    args = p.parse_args(argv)
    settings = [(0.0, 0.125)] + [parse_setting(s) for s in args.clahe]
    coco = load_coco(args.coco)
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    header = ["image", "r (px)"] + ["off" if c == 0 else f"CLAHE {c}:{f}" for c, f in settings]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    table = []
    for image in coco["images"]:
        anns = by_image.get(image["id"], [])
        if not anns:
            continue
        raw = read_image(resolve_image_path(image["file_name"], args.coco.parent))
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                           a["bbox"][1] + a["bbox"][3]] for a in anns], float)  # fmt: skip
        rows = [[] for _ in anns]
        for clip, fraction in settings:
            config = PreprocessConfig(
                image_size=args.size, clahe_clip_limit=clip, clahe_kernel_fraction=fraction
            )
            pixels, record = preprocess(raw, config)
            for row, box in zip(rows, record.boxes_to_model(boxes)):
                row.append(lesion_cnr(pixels, box))
        for row, box in zip(rows, record.boxes_to_model(boxes)):
            radius = max(box[2] - box[0], box[3] - box[1]) / 2
            cells = [Path(image["file_name"]).stem, f"{radius:.0f}"] + [f"{v:.2f}" for v in row]
            print("| " + " | ".join(cells) + " |", flush=True)
            table.append(row)
    values = np.array(table, float)
    for name, stat in (("median", np.nanmedian), ("mean", np.nanmean)):
        print(f"| **{name}** ({len(values)} lesions) | | " + " | ".join(
            f"{v:.2f}" for v in stat(values, axis=0)) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
