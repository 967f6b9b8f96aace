"""`mammorcnn crossval CONFIG.yaml --data ALL.json --folds K --out DIR [key=value ...]`.

K-fold cross-validation by woman (docs/training.md, "Cross-validation"): parses, calls
`mammorcnn.engine.crossval.run_crossval`, prints the per-fold and pooled table. Resumable: the
same command after a kill continues with the folds it has not finished. SIGTERM or Ctrl-C
stops a fold's training after a checkpoint (exit 143/130); the same command resumes it.

Locks: a call over every fold holds --out exclusively; `--fold K` calls hold it shared (several
such jobs run side by side) and their folds' folders exclusively, so two calls never work on
one fold.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from pathlib import Path

from mammorcnn.cli.common import float_list, positive_int
from mammorcnn.cli.train import split_items
from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.crossval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="+",
        metavar="CONFIG.yaml | key=value",
        help="the training config of every fold and dotted overrides (as for train)",
    )
    parser.add_argument("--data", type=Path, required=True, help="COCO JSON of all images")
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder; run again to resume"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the assignment of women to folds (default 0)"
    )
    parser.add_argument(
        "--hit-rule",
        default="center",
        help="FROC hit rule: 'center' (default) or 'iou:T' (box IoU >= T)",
    )
    parser.add_argument(
        "--category",
        metavar="NAME",
        help="score one category of a multi-class model alone (e.g. mass), per fold and "
        "pooled; results.json keep every class (docs/evaluation.md, 'One category')",
    )
    parser.add_argument(
        "--fold",
        type=int,
        action="append",
        metavar="K",
        help="run only fold K (repeatable), e.g. one fold per process or cluster job; the "
        "pooled report is made by the call that finds every fold evaluated",
    )
    parser.add_argument(
        "--members",
        type=positive_int,
        default=1,
        metavar="N",
        help="train N models per fold, train.seed raised by 0..N-1 (foldK/run, "
        "foldK/run-member1, ...), and evaluate their ensemble into foldK/test-ensN and "
        "pooled-ensN (default 1; docs/evaluation.md, 'Ensembles')",
    )
    parser.add_argument("--device", default="auto", help="evaluation device (default auto)")
    parser.add_argument(
        "--test-time-flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="evaluate with (or without) the up-down mirrored view merged in, into "
        "foldK/test-flip and pooled-flip (-noflip) beside the plain evaluation (default: "
        "the config's model.box_head.test_time_flip, into foldK/test and pooled)",
    )
    parser.add_argument(
        "--nested-thresh",
        type=float,
        metavar="T",
        help="evaluate with nested detections dropped beyond T (1: off) into foldK/test-nestedT "
        "and pooled-nestedT, beside the plain evaluation (default: the config's "
        "model.box_head.nested_thresh, into foldK/test and pooled)",
    )
    parser.add_argument(
        "--test-time-scales",
        type=float_list,
        metavar="S,S",
        help="evaluate with the views rescaled by each S merged (e.g. 1,1.25) into "
        "foldK/test-scales1_1.25 and pooled-scales1_1.25, beside the plain evaluation "
        "(default: the config's model.box_head.test_time_scales, into foldK/test and pooled)",
    )
    parser.add_argument(
        "--rank-decay",
        type=float,
        metavar="G",
        help="evaluate with an image's k-th detection of a class scored times G**k into "
        "foldK/test-decayG and pooled-decayG, beside the plain evaluation (default: the "
        "config's model.box_head.rank_decay, into foldK/test and pooled)",
    )
    parser.add_argument(
        "--pectoral-weight",
        type=float,
        metavar="W",
        help="evaluate with detections centred in the pectoral muscle of MLO views scored "
        "times 1 - W into foldK/test-pectoralW and pooled-pectoralW, beside the plain "
        "evaluation (default: the config's model.box_head.pectoral_weight, into foldK/test "
        "and pooled)",
    )
    parser.add_argument(
        "--no-score-calibration",
        dest="score_calibration",
        action="store_const",
        const=False,
        default=None,
        help="evaluate calibrated models' raw scores into foldK/test-raw and pooled-raw, "
        "beside the plain evaluation (train.score_calibration; docs/evaluation.md, "
        "'Score calibration')",
    )
    parser.add_argument(
        "--no-html", action="store_true", help="do not write the pooled review page report.html"
    )
    parser.add_argument(
        "--cache-dir", help="preprocessed-image cache folder (default ~/.cache/mammorcnn/...)"
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.crossval import (
        CrossvalSettings,
        evaluation_suffix,
        run_crossval,
    )
    from mammorcnn.engine.crossval_summary import format_summary
    from mammorcnn.engine.folder_lock import folder_lock
    from mammorcnn.engine.graceful_stop import GracefulStop
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions
    from mammorcnn.engine.inference.pectoral import check_weight
    from mammorcnn.engine.inference.predictor import check_scales
    from mammorcnn.engine.inference.rank_decay import check_decay
    from mammorcnn.engine.metrics import HitRule
    from mammorcnn.model.nested import check_threshold

    config_path, overrides = split_items(args.items)
    if config_path is None:
        raise ConfigError("crossval needs a training config file (CONFIG.yaml)")
    if not config_path.is_file():
        raise ConfigError(f"{config_path}: no such config file")
    HitRule.parse(args.hit_rule)  # refuse a bad rule before hours of training
    if args.nested_thresh is not None:
        check_threshold(args.nested_thresh, "--nested-thresh")
    if args.test_time_scales is not None:
        check_scales(args.test_time_scales)
    if args.rank_decay is not None:
        check_decay(args.rank_decay, "--rank-decay")
    if args.pectoral_weight is not None:
        check_weight(args.pectoral_weight, "--pectoral-weight")
    settings = CrossvalSettings(
        config=str(config_path),
        data=str(args.data),
        folds=args.folds,
        seed=args.seed,
        overrides=tuple(overrides),
        hit_rule=args.hit_rule,
        category=args.category,
    )
    options = DatasetRunOptions(
        device=args.device,
        cache_dir=args.cache_dir,
        bf16_hint=False,
        test_time_flip=args.test_time_flip,
        nested_thresh=args.nested_thresh,
        test_time_scales=args.test_time_scales,
        rank_decay=args.rank_decay,
        pectoral_weight=args.pectoral_weight,
        score_calibration=args.score_calibration,
    )
    bad = sorted(k for k in args.fold or [] if not 0 <= k < args.folds)
    if bad:  # before any fold folder is made for its lock
        raise ConfigError(f"--fold {bad[0]}: folds are numbered 0..{args.folds - 1}")
    with ExitStack() as stack:
        stack.enter_context(folder_lock(args.out, "crossval", shared=args.fold is not None))
        for k in sorted(set(args.fold or [])):
            stack.enter_context(folder_lock(args.out / f"fold{k}", f"crossval --fold {k}"))
        stack.enter_context(GracefulStop())
        summary = run_crossval(
            settings,
            args.out,
            options,
            only=args.fold,
            review_page=not args.no_html,
            members=args.members,
        )
    if summary is None:
        print(f"folds {args.fold} done; run again when the others are, for the pooled report")
        return 0
    print(format_summary(summary))
    suffix = evaluation_suffix(
        args.test_time_flip,
        args.members,
        args.nested_thresh,
        args.test_time_scales,
        args.rank_decay,
        args.pectoral_weight,
        args.score_calibration,
    )
    print(
        f"\nper-fold reports in {args.out}/foldK/test{suffix}, pooled in {args.out}/pooled{suffix}"
    )
    return 0
