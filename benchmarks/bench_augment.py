"""Milliseconds per training sample of the data pipeline, with and without an augmentation.

    .venv/bin/python benchmarks/bench_augment.py src/mammorcnn/configs/mini-mias.yaml \
        mias/all.json --samples 64 --runs 5 [--vary elastic_prob=0,1]

Builds the training set of CONFIG on a COCO file as ``mammorcnn train`` does (cache on, the
config's augmentation), fills the cache first, then times ``dataset[i]`` over the same
``--samples`` indices for each value of one ``data.augment`` field (``--vary FIELD=V1,V2``,
default ``paste_prob=0,1``), interleaved so that the shared machine's load falls on every
variant alike (benchmarks/_common.py). With
``paste_prob`` 1 every sample gets a pasted lesion, so the difference of the two is the cost
of one paste including what the extra lesion costs the augmentation after it. The step time
it adds is about ``paste_prob x batch size x`` that difference. One thread, as the recipe's
``num_workers: 0`` loads in the training process. Run by hand, never as a timed test.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, machine_line  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="training config (e.g. the mini-mias recipe)")
    parser.add_argument("data", type=Path, help="COCO JSON of training images with masks")
    parser.add_argument("--samples", type=int, default=64, help="samples per timed run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    parser.add_argument(
        "--vary", default="paste_prob=0,1", help="FIELD=V1,V2: data.augment values to compare"
    )
    args = parser.parse_args()

    from mammorcnn.config import load_config
    from mammorcnn.data import CocoMammoDataset

    torch.set_num_threads(1)
    config = load_config(args.config)
    field, _, values = args.vary.partition("=")
    if not hasattr(config.data.augment, field) or not values:
        parser.error(f"--vary {args.vary}: expected FIELD=V1,V2 with a data.augment field")
    probs = [float(v) for v in values.split(",")]
    sets = {}
    for prob in probs:
        augment = replace(config.data.augment, **{field: prob})
        sets[prob] = CocoMammoDataset(args.data, replace(config.data, augment=augment), True)
    first = sets[probs[0]]
    first.prepare()  # decode and cache every image once, as the first epoch would
    indices = [i % len(first) for i in range(args.samples)]

    def task(dataset: CocoMammoDataset):
        return lambda: [dataset[i] for i in indices]

    torch.manual_seed(0)
    stats = interleaved({f"{field} {p:g}": task(sets[p]) for p in probs}, args.runs, 1)
    print(machine_line(1))
    for name, s in stats.items():
        print(
            f"{name}: {1000 * s.median / args.samples:.1f} ms per sample "
            f"(runs {s.spread()} s for {args.samples} samples; CPU "
            f"{1000 * s.cpu_median / args.samples:.1f} ms)"
        )


if __name__ == "__main__":
    main()
