"""Two kept cross-validations compared mass by mass at 1 FP/image, each rescored first with
its own rank decay, from their ``per_image.json`` alone.

``mammorcnn compare`` pairs two evaluations as they were scored. An old record made without
the recipe's rank decay (docs/results.md, "Rank decay") has to be rescored before it can be
paired with a new run evaluated with it, and its detections are not kept, so this rescores
the records (``rank_decay_records.rescored_scores``), finds each run's 1-FP/image threshold
with evaluate's FROC code, marks each mass found or not there, and pairs the masses with
compare's own code (``pair_lesions``: the discordant masses by name, exact McNemar p):

    python benchmarks/paired_records.py docs/run-records/cv_clahe_s1/pooled/per_image.json \\
        --decay-first 0.7 CV/pooled/per_image.json
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from mammorcnn.engine.metrics.froc import froc_from_scores
from mammorcnn.engine.report.lesion_pairs import pair_lesions
from rank_decay_records import rescored_scores  # beside this file

RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


def found_at(images: list[dict], decay: float, rate: float = 1.0) -> tuple[list[dict], list]:
    """Copies of the records whose lesions say whether they are found at ``rate`` FP/image
    after the decay, and the sensitivities at RATES."""
    best, fp = rescored_scores(images, decay)
    result = froc_from_scores(best, fp, len(images), RATES + (rate,))
    threshold = result.thresholds[-1]
    out, k = copy.deepcopy(images), 0
    for image in out:
        for lesion in image["lesions"]:
            lesion["found"] = bool(best[k] >= threshold)
            k += 1
    return out, list(result.sensitivities[: len(RATES)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("first", type=Path, help="per_image.json of the first evaluation")
    p.add_argument("other", type=Path, help="per_image.json of the other")
    p.add_argument("--decay-first", type=float, default=1.0, help="rank decay to apply first")
    p.add_argument("--decay-other", type=float, default=1.0, help="... to the other")
    args = p.parse_args(argv)
    runs = []
    for path, decay in ((args.first, args.decay_first), (args.other, args.decay_other)):
        runs.append((path, decay, *found_at(json.loads(path.read_text())["images"], decay)))
    print("| run | rank decay applied | " + " | ".join(f"{r:g}" for r in RATES) + " |")
    print("|---|---|" + "---|" * len(RATES))
    for path, decay, _, sensitivities in runs:
        values = " | ".join(f"{s:.3f}" for s in sensitivities)
        print(f"| {path.parent.parent.name} | {decay:g} | {values} |")
    pairs = pair_lesions(runs[0][2], runs[1][2])
    print(f"\nat 1 FP/image: both {pairs.both}, only first {pairs.only_first} "
          f"{pairs.only_first_lesions}, only other {pairs.only_other} {pairs.only_other_lesions}, "
          f"neither {pairs.neither}; exact McNemar p = {pairs.p_value:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
