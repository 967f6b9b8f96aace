"""Experiment: kept cross-validations of the same folds merged as an ensemble, from their pooled
``results.json`` alone, with the recipe's scoring (docs/results.md, "The recipe's three seeds
merged").

Each kept pooled results.json was written with the rank decay 0.7 (the recipe's); per image the
runs' detections are merged as views (``merge_files`` of merge_kept_views.py: the decay undone,
weighted box fusion, the nested rule, the decay again), the detections centred in the pectoral
muscle are dropped (``kept`` of pectoral_records.py) and the result is scored by ``mammorcnn
evaluate --results``. One run alone gives its own rescored figures back.

    python benchmarks/merge_pooled_records.py --data mias/all.json \\
        --config src/mammorcnn/configs/mini-mias.yaml --out /tmp/merged \\
        docs/run-records/cv_r34c192_s0/pooled/results.json \\
        docs/run-records/cv_r34c192_s1/pooled/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from merge_kept_views import merge_files
from pectoral_records import kept, muscles, sensitivities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the runs' COCO file")
    parser.add_argument("--config", type=Path, required=True, help="whose preprocessing to use")
    parser.add_argument("--out", type=Path, required=True, help="folder for the merged run")
    parser.add_argument("--rank-decay", type=float, default=0.7, help="the runs' own decay")
    parser.add_argument("results", type=Path, nargs="+", help="pooled results.json files")
    args = parser.parse_args()
    coco = json.loads(args.data.read_text())
    images = [{"id": image["id"], "file": image["file_name"]} for image in coco["images"]]
    decay = {"rank_decay": args.rank_decay}
    runs = [
        {"images": images, "results": json.loads(path.read_text()), "settings": decay}
        for path in args.results
    ]
    merged = merge_files(runs, args.rank_decay, nested=0.5)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps(kept(merged, muscles(args.data, args.config)))
    )
    found = sensitivities(args.data, args.out / "results.json", args.out / "evaluate")
    print("0.125-4 FP/image: " + "/".join(f"{value:.3f}" for value in found))


if __name__ == "__main__":
    main()
