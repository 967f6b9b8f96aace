"""Seconds per training step of a config and of variants of it, interleaved in one run.

A recipe change that costs time (a larger backbone, wider heads, bigger crops) has to fit the
recipe's hour: this times one optimiser step (forward, backward, AdamW) of each variant on the
config's own crop size and batch, on phantom crops, with the variants taking turns so that
the machine's load falls on all of them alike. Compare ratios, not seconds, across machines.

    python benchmarks/bench_train_step.py src/mammorcnn/configs/mini-mias.yaml \\
        --variant model.backbone.name=resnet34 --variant model.backbone.name=resnet50

The first row is the config as it is; each --variant is a dotted override (several
overrides of one variant separated by spaces in one argument). Data loading and augmentation
are not timed (benchmarks/bench_augment.py times those). Run by hand, never as a timed test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import count_parameters, interleaved, machine_line, phantom_sample  # noqa: E402


def make_step(config_path: Path, overrides: list[str], crops: list, targets: list):  # noqa: ANN201
    """One training step of the config with ``overrides``: a callable, and its parameters."""
    from mammorcnn.config import load_config
    from mammorcnn.model import build_model

    config = load_config(config_path, overrides)
    if config.model.num_classes is None:  # `train` takes it from its file; phantoms have one
        config.model.num_classes = 1
    torch.manual_seed(0)
    model = build_model(config.model).train()
    params = [p for p in model.parameters() if p.requires_grad]
    # the recipe's optimiser; a small lr keeps repeated steps from random weights finite
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=config.train.weight_decay)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = sum(model(crops, targets).values())
        loss.backward()
        optimizer.step()

    return step, count_parameters(model)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config", type=Path, help="training config (YAML)")
    p.add_argument("--variant", action="append", default=[], help="dotted overrides of one variant")
    p.add_argument("--runs", type=int, default=5, help="timed steps per variant")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = p.parse_args(argv)

    from mammorcnn.config import load_config

    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    size = config.data.augment.crop_size or config.data.preprocess.image_size
    samples = [phantom_sample(size, seed) for seed in range(config.train.batch_size)]
    crops, targets = [s[0] for s in samples], [s[1] for s in samples]
    variants = {"as configured": []} | {v: v.split() for v in args.variant}
    steps, sizes = {}, {}
    for name, overrides in variants.items():
        steps[name], sizes[name] = make_step(args.config, overrides, crops, targets)
    stats = interleaved(steps, args.runs, warmup=1)
    print(machine_line(args.threads))
    print(f"{config.train.batch_size} crops of {size} px a step, {args.runs} timed steps each\n")
    print("| variant | s per step (median, range) | ratio | CPU s per step | parameters (M) |")
    print("|---|---|---|---|---|")
    base = stats["as configured"].median
    for name, s in stats.items():
        ratio = s.median / base
        print(
            f"| {name} | {s.median:.2f} ({s.spread()}) | {ratio:.2f} | {s.cpu_median:.2f} "
            f"| {sizes[name] / 1e6:.1f} |"
        )


if __name__ == "__main__":
    main()
