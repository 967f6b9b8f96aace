"""Pooled FROC of kept cross-validations with each image's further marks lowered (rank decay)
or cut (a cap on marks per image), from their ``per_image.json`` alone.

Kept run records (docs/run-records) hold each lesion's best score and every false positive's
score per image, not the detections, so this rescores them without the models: an image's
marks are ranked by score, the k-th scored times G**k (``decay_by_rank``, what
``model.box_head.rank_decay`` does when the model runs) or dropped beyond the cap, and the
FROC is evaluate's own (``froc_from_scores``). A found lesion's other hits are not in the
records (the FROC ignores them), so where one ranks above a false positive the model run
decays that false positive once more than this does; with the nested rule they are few. On
run ``cv_phantom_s1``'s detections, ``mammorcnn evaluate --results ... --rank-decay 0.7``
and this agree at every rate (docs/results.md, "Rank decay").

    python benchmarks/rank_decay_records.py docs/run-records/cv_*/pooled/per_image.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mammorcnn.engine.inference.rank_decay import decay_by_rank
from mammorcnn.engine.metrics.froc import froc_from_scores

RATES = (0.5, 1.0, 2.0)
DECAYS = (1.0, 0.9, 0.8, 0.7, 0.5)
CAPS = (1, 2, 3)


def rescored(
    images: list[dict], decay: float = 1.0, cap: int | None = None, rates: tuple = RATES
) -> list[float]:
    """Sensitivity at ``rates`` after the decay (and the cap) of every image's ranked marks."""
    best, fp = rescored_scores(images, decay, cap)
    return list(froc_from_scores(best, fp, len(images), rates).sensitivities)


def rescored_scores(
    images: list[dict], decay: float = 1.0, cap: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(each lesion's best score, -inf if missed, in record order; the false positives'
    scores) after the decay (and the cap) of every image's ranked marks."""
    best, fp = [], []
    for image in images:
        lesions = [les["best_score"] for les in image["lesions"]]
        marks = [(s, k) for k, s in enumerate(lesions) if s is not None]
        marks += [(s, None) for s in image["fp_scores"]]
        marks.sort(key=lambda mark: -mark[0])
        marks = marks[:cap]
        scores = torch.tensor([s for s, _ in marks], dtype=torch.float64)
        scores = decay_by_rank(scores, torch.zeros(len(marks), dtype=torch.long), decay)
        found = {k: s for (_, k), s in zip(marks, scores.tolist()) if k is not None}
        best += [found.get(k, -np.inf) for k in range(len(lesions))]
        fp += [s for (_, k), s in zip(marks, scores.tolist()) if k is None]
    return np.array(best, float), np.array(fp, float)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("per_image", type=Path, nargs="+", help="per_image.json of pooled evaluations")
    args = p.parse_args(argv)
    runs = {
        path.parent.parent.name: json.loads(path.read_text())["images"] for path in args.per_image
    }
    settings = [(f"decay {g:g}", g, None) for g in DECAYS] + [(f"cap {c}", 1.0, c) for c in CAPS]
    table = {name: [rescored(images, g, c) for images in runs.values()] for name, g, c in settings}
    print("Sensitivity at 1 FP/image; the mean over the runs at 0.5 / 1 / 2 FP/image\n")
    print("| | " + " | ".join(f"`{run}`" for run in runs) + " | mean 0.5 | mean 1 | mean 2 |")
    print("|---|" + "---|" * (len(runs) + 3))
    for name, rows in table.items():
        means = np.mean(rows, axis=0)
        cells = [f"{row[1]:.3f}" for row in rows] + [f"{m:.3f}" for m in means]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
