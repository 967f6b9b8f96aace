"""Every mass of a mini-MIAS cross-validation, found or missed, joined with Info.txt.

The hits-and-misses table and the breakdowns of docs/results.md come from this script, so
they can be made again from any crossval folder (no image is read or copied):

    python benchmarks/mias_lesion_table.py CV_DIR ../shared/data/mini-mias-dev/Info.txt
    python benchmarks/mias_lesion_table.py CV_DIR INFO --pooled pooled-flip   # another evaluation
    python benchmarks/mias_lesion_table.py CV_DIR INFO --pooled ../OTHER/pooled  # folds re-evaluated

It reads POOLED/per_image.json (the pooled operating point at 1 FP/image) and POOLED/results.json
(the pooled detections), CV_DIR/folds/foldK_test.json (which fold held each image) and
CV_DIR/crossval.json (the data file and, for a run with ``--category``, the category scored),
and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

MASS_CLASSES = {"CIRC", "SPIC", "MISC"}
SEVERITY = {"B": "benign", "M": "malignant"}
SMALL_RADIUS = 30  # original pixels (200 um): 6 mm


def read_info(path: Path) -> dict[str, dict]:
    """Info.txt by reference: every image's tissue; for a mass its class, severity, radius."""
    rows: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].startswith("mdb"):
            continue
        row = rows.setdefault(parts[0], {"tissue": parts[1]})
        if len(parts) >= 7 and parts[2] in MASS_CLASSES:
            row["class"] = parts[2]
            row["severity"] = SEVERITY.get(parts[3], parts[3])
            row["radius"] = int(parts[6])
    return rows


def fold_of_images(cv_dir: Path) -> dict[int, int]:
    folds = {}
    # fold[0-9]: not the fold subsets (folds012_test.json) that froc_subset comparisons add
    for path in sorted((cv_dir / "folds").glob("fold[0-9]*_test.json")):
        k = int(path.name[len("fold") : -len("_test.json")])
        folds.update({image["id"]: k for image in json.loads(path.read_text())["images"]})
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("info", type=Path, help="mini-MIAS Info.txt")
    parser.add_argument("--pooled", default="pooled", help="pooled folder name (pooled-flip ...)")
    args = parser.parse_args()
    per_image = json.loads((args.cv_dir / args.pooled / "per_image.json").read_text())
    info, folds = read_info(args.info), fold_of_images(args.cv_dir)
    op = per_image["operating_point"]
    print(f"operating point: {op['fp_per_image']} FP/image, score >= {op['score_threshold']}\n")
    print("| image | fold | MIAS class | severity | radius | tissue | found | best score | Dice |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows, fp_by_tissue = [], defaultdict(list)
    for image in per_image["images"]:
        ref = Path(image["file_name"]).stem
        tissue = info.get(ref, {}).get("tissue")
        for lesion in image["lesions"]:
            rows.append((ref, folds.get(image["id"]), info.get(ref, {}), lesion))
        fp_by_tissue[tissue or "?"].append(image["n_fp"])
        if not image["lesions"]:
            fp_by_tissue["normal images"].append(image["n_fp"])
        else:
            fp_by_tissue["mass images"].append(image["n_fp"])
    rows.sort(key=lambda r: (not r[3]["found"], r[0]))

    def cell(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for ref, fold, mias, lesion in rows:
        found = "yes" if lesion["found"] else "**missed**"
        print(
            f"| {ref} | {fold} | {mias.get('class', '?')} | {mias.get('severity', '?')} | "
            f"{mias.get('radius', '?')} | {mias.get('tissue', '?')} | {found} | "
            f"{cell(lesion['best_score'])} | {cell(lesion['dice'])} |"
        )
    print()
    for key, name in (("class", "class"), ("severity", "severity"), ("tissue", "tissue")):
        found, total = Counter(), Counter()
        for _, _, mias, lesion in rows:
            total[mias.get(key)] += 1
            found[mias.get(key)] += lesion["found"]
        print(f"- by {name}: " + ", ".join(f"{k} {found[k]} of {total[k]}" for k in sorted(total)))
    small = [lesion["found"] for _, _, m, lesion in rows if m.get("radius", 0) < SMALL_RADIUS]
    print(f"- radius under {SMALL_RADIUS} px: {sum(small)} of {len(small)}")
    print(
        "- false positives per image at the operating point: "
        + ", ".join(f"{k} {sum(v) / len(v):.2f} ({len(v)} images)" for k, v in fp_by_tissue.items())
    )
    pooled_dir = args.cv_dir / args.pooled
    if (pooled_dir / "results.json").is_file():
        print("- " + top_edge_false_positives(args.cv_dir, pooled_dir, op["score_threshold"]))
    else:  # docs/run-records keep no detections, only per_image.json and report.json
        print(f"- false positives in the top tenth of the film: not counted ({pooled_dir} "
              "holds no results.json)")  # fmt: skip


def top_edge_false_positives(cv_dir: Path, pooled_dir: Path, threshold: float) -> str:
    """How many false positives at the operating point lie in the top tenth of the film,
    where MIAS's MLO views show the pectoral muscle and film labels (a false positive: a
    detection whose box centre lies in no mass's circle). A crossval run with ``--category``
    keeps every class's detections in results.json; only that category's are counted, against
    that category's lesions, as its FROC was."""
    state = json.loads((cv_dir / "crossval.json").read_text())
    coco = json.loads(Path(state["data"]).read_text())
    category = state.get("category")
    wanted = {c["id"] for c in coco["categories"] if category in (None, c["name"])}
    heights = {image["id"]: image["height"] for image in coco["images"]}
    circles = defaultdict(list)
    for a in coco["annotations"]:
        if a["category_id"] not in wanted:
            continue
        x, y, w, h = a["bbox"]
        circles[a["image_id"]].append((x + w / 2, y + h / 2, w / 2))
    n_fp = n_top = 0
    for r in json.loads((pooled_dir / "results.json").read_text()):
        if r["score"] < threshold or r["category_id"] not in wanted:
            continue
        x, y, w, h = r["bbox"]
        cx, cy = x + w / 2, y + h / 2
        if any((cx - gx) ** 2 + (cy - gy) ** 2 <= gr**2 for gx, gy, gr in circles[r["image_id"]]):
            continue
        n_fp += 1
        n_top += cy < heights[r["image_id"]] / 10
    return (
        f"false positives in the top tenth of the film (pectoral muscle, labels): {n_top} of {n_fp}"
    )


if __name__ == "__main__":
    main()
