"""`mammorcnn evaluate --weights W --data ANNOTATIONS.json [--out DIR]`: FROC, COCO mAP, Dice.

The model's detections are mapped back to the original pixels through each image's
preprocessing record and compared with the ground truth there, exactly as `predict` would
report them (`--results` scores a saved predictions file without the model). The numbers are
defined in docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from pathlib import Path

from mammorcnn.cli.common import add_model_arguments, run_options, warnings_as_log

log = logging.getLogger("mammorcnn.evaluate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="COCO JSON of the annotated images"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--weights",
        type=Path,
        help="weights file (.safetensors) or a training run folder (uses its best checkpoint)",
    )
    source.add_argument(
        "--results",
        type=Path,
        nargs="+",
        action="extend",
        help="score saved predictions.json files (or COCO results lists) instead of running "
        "a model; several files (--results A B, or --results A --results B) are scored "
        "together, e.g. the folds of a cross-validation (each image predicted by exactly one)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write report.json, report.html, froc.png, pr_curve.png, predictions.json",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="N",
        help="resamples of women for the 95%% intervals (default 2000; docs/evaluation.md)",
    )
    parser.add_argument(
        "--no-html", action="store_true", help="do not write report.html and its pictures"
    )
    parser.add_argument(
        "--hit-rule",
        default="center",
        help="FROC hit rule: 'center' (box centre inside the lesion) or 'iou:T' (box IoU >= T)",
    )
    parser.add_argument(
        "--category",
        metavar="NAME",
        help="score one category of a multi-class model alone (e.g. mass): its lesions and its "
        "predictions, the other categories' images marked has_other_findings "
        "(docs/evaluation.md, 'One category')",
    )
    parser.add_argument(
        "--cache-dir", help="preprocessed-image cache folder (default ~/.cache/mammorcnn/...)"
    )
    # FROC sweeps every threshold, so by default every detection the model returns is kept.
    add_model_arguments(parser, score_threshold=0.0)
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out images that cannot be read (warning), and their lesions from the "
        "scores; they are listed in skipped.json in --out",
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.graceful_stop import GracefulStop

    with ExitStack() as held, GracefulStop():  # held: the --out lock, for the whole command
        return _run(args, held)


def _run(args: argparse.Namespace, held: ExitStack) -> int:
    from mammorcnn.engine.evaluation import evaluate_dataset
    from mammorcnn.engine.metrics import format_report

    options = run_options(args, args.cache_dir)
    with warnings_as_log(log):
        evaluation = evaluate_dataset(
            args.data,
            weights=args.weights,
            results_file=args.results,
            out=args.out,
            options=options,
            hit_rule=args.hit_rule,
            n_resamples=args.bootstrap,
            html=not args.no_html,
            held=held,
            category=args.category,
        )
    print(format_report(evaluation.report))
    if evaluation.other_findings:
        print(evaluation.other_findings)
    if evaluation.per_category:
        print(evaluation.per_category)
    if args.skip_bad:
        print(f"\n{len(evaluation.skipped)} image(s) skipped and left out of the scores")
    if args.out is not None:
        html = "" if args.no_html else "report.html, "
        print(f"\nreport.json, {html}froc.png and pr_curve.png written to {args.out}")
    return 0
