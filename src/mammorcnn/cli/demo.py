"""`mammorcnn demo [DEMO.yaml] [key=value ...] [--out DIR] [--quick] [--seed N] [--minutes M]`:
the built-in demo."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="*",
        metavar="DEMO.yaml | key=value",
        help="a demo config in the form of mammorcnn/configs/demo.yaml (default: that file) "
        "and dotted overrides, e.g. demo.train_images=200 train.epochs=10 train.amp=bf16",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few tiny phantoms and two training steps: checks the installation in seconds "
        "(learns nothing)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the phantoms and of training (default 0)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        metavar="M",
        help="time budget: train fewer epochs if the full demo would take longer than M "
        "minutes on this machine (the result then depends on the machine's speed)",
    )
    parser.epilog = (
        "Generates synthetic phantoms, trains the specification's Mask R-CNN at a reduced size "
        "(ResNet-18 FPN, 256-px inputs; settings in mammorcnn/configs/demo.yaml), evaluates it "
        "on unseen phantoms and writes the report, FROC plot and overlays. About 4 minutes on "
        "2 CPU cores. See docs/demo.md."
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.cli.train import split_items
    from mammorcnn.engine.demo import run_demo
    from mammorcnn.engine.metrics import format_report

    config_path, overrides = split_items(args.items)
    report = run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        minutes=args.minutes,
        config_path=config_path,
        overrides=overrides,
    )
    print()
    print(format_report(report))
    print()
    print("\n".join(summary_lines(report)))
    return 0


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What the CLI prints after the table: the headline number and where everything is."""
    demo = report["demo"]
    froc = report["froc"]
    sens = dict(zip(froc["fp_rates"], froc["sensitivities"])).get(1.0)
    shown = "n/a" if sens is None else f"{sens:.3f}"
    t = demo["timings"]
    return [
        f"FROC sensitivity at 1 false positive per image: {shown} "
        f"({report['n_lesions']} lesions in {report['n_images']} unseen test phantoms)",
        f"time: {t['total_s']:.0f} s in all (phantoms {t['generate_s']:.0f} s, "
        f"training {t['train_s']:.0f} s, evaluation {t['evaluate_s']:.0f} s)",
        f"report:     {demo['report']} (review page: report.html beside it)",
        f"FROC plot:  {demo['froc_plot']}",
        f"PR curve:   {demo['pr_plot']}",
        f"overlays:   {demo['overlays']}",
        f"checkpoint: {demo['weights']}",
        f"  try: mammorcnn evaluate --weights {demo['weights']} --data {demo['test_annotations']}",
    ]
