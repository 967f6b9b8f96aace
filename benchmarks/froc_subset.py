"""The FROC of a kept evaluation restricted to some of its images (e.g. the folds a stopped
cross-validation finished), from its ``per_image.json`` alone.

Kept run records (docs/run-records) hold ``per_image.json`` but not the detections, so
``mammorcnn evaluate`` cannot re-score a subset of them. This does, with evaluate's own FROC
code (``froc_from_scores``) on each lesion's best score and the false positives' scores (on
the three finished folds of run ``cv_hardneg_s1`` the two agree at every rate):

    python benchmarks/froc_subset.py docs/run-records/cv_elastic_s1/pooled/per_image.json \\
        --images CV/folds/fold0_test.json CV/folds/fold1_test.json CV/folds/fold2_test.json

``--rank-decay G`` first rescores each image's marks the way ``rank_decay_records.py`` does,
so the folds of a new run evaluated with the recipe's decay can be compared with an old
record made without it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mammorcnn.engine.metrics.froc import froc_from_scores

RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


def froc(images: list[dict]) -> list[float]:
    """Sensitivity at each rate of false positives per image, over these per-image records,
    by the same FROC code as ``mammorcnn evaluate``."""
    best = [les["best_score"] for im in images for les in im["lesions"]]
    if not best:
        raise SystemExit("no lesions in the selected images")
    best = np.array([-np.inf if s is None else s for s in best], float)
    fp = np.array([s for im in images for s in im["fp_scores"]], float)
    return list(froc_from_scores(best, fp, len(images), RATES).sensitivities)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("per_image", type=Path, help="per_image.json of an evaluation")
    p.add_argument("--images", type=Path, nargs="+", required=True, help="COCO files: the subset")
    p.add_argument("--rank-decay", type=float, default=1.0, help="rescore with this decay first")
    args = p.parse_args(argv)
    wanted = {im["id"] for path in args.images for im in json.loads(path.read_text())["images"]}
    records = [im for im in json.loads(args.per_image.read_text())["images"] if im["id"] in wanted]
    lesions = sum(len(im["lesions"]) for im in records)
    print(f"{len(records)} images, {lesions} lesions")
    print("| FP/image | " + " | ".join(f"{r:g}" for r in RATES) + " |")
    print("|---|" + "---|" * len(RATES))
    if args.rank_decay == 1.0:
        sensitivities = froc(records)
    else:
        from rank_decay_records import rescored  # beside this file

        sensitivities = rescored(records, args.rank_decay, rates=RATES)
    print("| sensitivity | " + " | ".join(f"{s:.3f}" for s in sensitivities) + " |")


if __name__ == "__main__":
    main()
