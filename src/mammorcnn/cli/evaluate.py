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

from mammorcnn.cli.predict import (
    SKIPPED_FILE,
    add_model_arguments,
    out_folder,
    preprocess_overrides,
    warnings_as_log,
)
from mammorcnn.errors import ConfigError

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
        help="score a saved predictions.json (or COCO results list) instead of running a model",
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


def _predict(args: argparse.Namespace, gt_path: Path) -> tuple[list[dict], list[dict]]:
    """Run the model over the annotated images: (COCO results in original pixels, the images
    left out by --skip-bad)."""
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset

    options = DatasetRunOptions(
        device=args.device,
        batch_size=args.batch_size,
        score_threshold=args.score_threshold,
        max_detections=args.max_detections,
        proposals=args.proposals,
        bf16=args.bf16,
        cache_dir=args.cache_dir,
        preprocess_overrides=preprocess_overrides(args),
        skip_bad=args.skip_bad,
    )
    return predict_dataset(args.weights, gt_path, options, out_dir=args.out)


def _without_images(gt: dict, skipped: list[dict]) -> dict:
    """The ground truth without the skipped images and their lesions: an image the model
    never saw must not count its lesions as missed."""
    ids = {entry["id"] for entry in skipped}
    return {
        **gt,
        "images": [image for image in gt["images"] if image["id"] not in ids],
        "annotations": [ann for ann in gt["annotations"] if ann["image_id"] not in ids],
    }


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.graceful_stop import GracefulStop

    with ExitStack() as held, GracefulStop():  # held: the --out lock, for the whole command
        return _run(args, held)


def _run(args: argparse.Namespace, held: ExitStack) -> int:
    from mammorcnn.data import load_coco
    from mammorcnn.engine.inference.predictions_file import read_results
    from mammorcnn.engine.metrics import HitRule, evaluate_predictions, format_report
    from mammorcnn.engine.metrics.other_findings import add_other_findings_froc
    from mammorcnn.engine.outputs import write_json

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.bootstrap < 1:
        raise ConfigError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    rule = HitRule.parse(args.hit_rule)
    gt = load_coco(args.data)
    if args.out is not None:
        out_folder(args.out, held, "evaluate")
    skipped: list[dict] = []
    if args.results is not None:
        results = read_results(args.results, gt, args.data)
        source = str(args.results)
    else:
        with warnings_as_log(log):
            results, skipped = _predict(args, args.data)
        source = f"predictions of {args.weights}"
    if args.skip_bad:
        gt = _without_images(gt, skipped)
        if not gt["images"]:
            raise ConfigError(f"{args.data}: every image was skipped; nothing to evaluate")
        if args.out is not None:
            write_json(skipped, args.out / SKIPPED_FILE, indent=1)
    report = evaluate_predictions(
        gt,
        results,
        rule,
        out_dir=args.out,
        gt_source=str(args.data),
        predictions_source=source,
        n_resamples=args.bootstrap,
        per_image=args.out is not None,
    )
    # a second FROC without the images marked has_other_findings by convert (docs/data.md)
    other_findings = add_other_findings_froc(report, gt, results, rule, args.out)
    if args.out is not None and not args.no_html:
        from mammorcnn.engine.report.evaluation_page import write_evaluation_page

        used = ("weights", args.weights) if args.results is None else ("results", args.results)
        sources = [used, ("data", args.data)]
        write_evaluation_page(args.out, report, gt, results, args.data.parent, sources, True)
    print(format_report(report))
    if other_findings:
        print(other_findings)
    if args.skip_bad:
        print(f"\n{len(skipped)} image(s) skipped and left out of the scores")
    if args.out is not None:
        html = "" if args.no_html else "report.html, "
        print(f"\nreport.json, {html}froc.png and pr_curve.png written to {args.out}")
    return 0
