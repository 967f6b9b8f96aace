"""Test sets that take a two-channel model's partner away, to measure what the partner adds.

A model trained with ``data.preprocess.other_breast`` reads each film with the same woman's
other breast. Evaluated on the same images with its partner channel empty (``--nopair``: the
images lose their ``patient_id``, so none pairs) or filled with another woman's film
(``--shuffled``: each woman's left film is handed to the next woman of the set, so every
right film pairs with a stranger's left one and every left film with a stranger's right
one), the same model shows whether it uses the partner at all and whether it needs the
right woman's. Writes both variants of one COCO file, file names made absolute:

    python benchmarks/other_breast_ablation.py CV/folds/fold0_test.json --out ablate/fold0
    mammorcnn evaluate --weights CV/fold0/run --data ablate/fold0_nopair.json --out ...
    mammorcnn evaluate --weights CV/fold0/run --data ablate/fold0_shuffled.json --out ...
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path


def absolute_files(coco: dict, folder: Path) -> dict:
    """A copy whose image file names are absolute (the variants are written elsewhere)."""
    out = copy.deepcopy(coco)
    for image in out["images"]:
        image["file_name"] = str((folder / image["file_name"]).resolve())
    return out


def without_partners(coco: dict) -> dict:
    """No image pairs: every ``patient_id`` removed."""
    out = copy.deepcopy(coco)
    for image in out["images"]:
        image.pop("patient_id", None)
    return out


def with_strangers(coco: dict) -> dict:
    """Each left film's woman replaced by the next woman's (in file order), so every pair
    joins two women; needs at least two women with a left film."""
    out = copy.deepcopy(coco)
    lefts = [image for image in out["images"] if image.get("laterality") == "L"]
    women = [image["patient_id"] for image in lefts]
    if len(set(women)) < 2:
        raise SystemExit("need at least two women with a left film")
    for image, woman in zip(lefts, women[1:] + women[:1]):
        image["patient_id"] = woman
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("coco", type=Path, help="a test set (COCO JSON with patient_id)")
    parser.add_argument("--out", type=Path, required=True, help="prefix: OUT_nopair.json ...")
    args = parser.parse_args()
    coco = absolute_files(json.loads(args.coco.read_text()), args.coco.parent)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, variant in (("nopair", without_partners), ("shuffled", with_strangers)):
        path = Path(f"{args.out}_{name}.json")
        path.write_text(json.dumps(variant(coco)))
        print(path)


if __name__ == "__main__":
    main()
