"""Options and helpers that several commands share (predict, evaluate, split, convert, ...).

Only argument parsing and terminal output live here; the work is in mammorcnn.engine.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def positive_int(text: str) -> int:
    """argparse type of counts that must be at least 1 (a bad value exits 2 naming it)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def float_list(text: str) -> list[float]:
    """argparse type of comma-separated numbers such as ``1,1.25`` (one argument, so a
    positional argument after the option is never read as one of them)."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def add_model_arguments(parser: argparse.ArgumentParser, score_threshold: float) -> None:
    """Options shared by predict and evaluate: device, batching, threshold, input settings."""
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        help=f"keep detections with at least this score (default {score_threshold})",
    )
    # None above tells an explicit --score-threshold from the default (predict refuses it
    # beside --operating-point); score_threshold() resolves it.
    parser.set_defaults(default_score_threshold=score_threshold)
    parser.add_argument(
        "--max-detections",
        type=int,
        help="keep at most this many detections per image (default: all the model returns)",
    )
    parser.add_argument(
        "--proposals",
        type=positive_int,
        metavar="N",
        help="RPN proposals kept per image after NMS (default: the checkpoint's config, 300 "
        "for models trained since it became the default; docs/performance.md)",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="run convolutions and the FC in bfloat16: about 2x faster on CPUs with "
        "AVX512_BF16/AMX, ~95%% of detections identical within 1 px (docs/performance.md)",
    )
    parser.add_argument(
        "--test-time-flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the up-down mirror of each image and merge both views (twice the "
        "time; default: the checkpoint's model.box_head.test_time_flip; docs/evaluation.md)",
    )
    parser.add_argument(
        "--test-time-scales",
        type=float_list,
        metavar="S,S",
        help="also run the image rescaled by each S and merge the views, e.g. 1,1.25 (1 is "
        "the image itself; default: the checkpoint's model.box_head.test_time_scales; "
        "docs/evaluation.md, 'Test-time scales')",
    )
    parser.add_argument(
        "--nested-thresh",
        type=float,
        metavar="T",
        help="drop a detection when a higher-scoring one of its class covers more than T of "
        "the smaller box (default: the checkpoint's model.box_head.nested_thresh; 1 turns it "
        "off; docs/evaluation.md, 'Nested detections')",
    )
    parser.add_argument(
        "--contralateral-weight",
        type=float,
        metavar="W",
        help="lower each detection by W times the score of a detection at the mirrored place "
        "of the same woman's other breast, same view (0 turns it off; default: the "
        "checkpoint's model.box_head.contralateral_weight; docs/evaluation.md, "
        "'Contralateral suppression')",
    )
    parser.add_argument(
        "--contralateral-radius",
        type=float,
        metavar="R",
        help="how far apart the two places may be, as a Gaussian's sigma in breast widths "
        "(default: the checkpoint's model.box_head.contralateral_radius)",
    )
    parser.add_argument(
        "--rank-decay",
        type=float,
        metavar="G",
        help="multiply the score of an image's k-th detection of a class (best first, k from 0) "
        "by G**k, so further marks of one image weigh less (1 turns it off; default: the "
        "checkpoint's model.box_head.rank_decay; docs/evaluation.md, 'Rank decay')",
    )
    parser.add_argument(
        "--pectoral-weight",
        type=float,
        metavar="W",
        help="multiply the score of a detection centred in the pectoral muscle of an MLO, ML, "
        "LM or LMO view by 1 - W (1 drops it, 0 turns it off; default: the checkpoint's "
        "model.box_head.pectoral_weight; docs/evaluation.md, 'Pectoral muscle')",
    )
    parser.add_argument(
        "--score-calibration",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="report each score as 1 / (1 + the false marks per image the model made at that "
        "score on its training images), so 0.5 is about 1 false mark per image (default: on "
        "when the checkpoint was calibrated; docs/evaluation.md, 'Score calibration')",
    )
    parser.add_argument(
        "--ensemble",
        action="append",
        default=[],
        metavar="WEIGHTS",
        help="also run this model (weights file or run folder; repeatable) and merge its "
        "detections with those of --weights; the models must share preprocessing and "
        "classes (docs/evaluation.md, 'Ensembles')",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="state the input size you expect; refused if the model was trained with another",
    )
    parser.add_argument(
        "--preprocess",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="state a preprocessing setting (e.g. crop_to_breast=false); refused if it differs "
        "from the checkpoint's, which always decides how inputs are prepared",
    )


def run_options(args: argparse.Namespace, cache_dir: str | None = None):  # noqa: ANN201
    """The engine's DatasetRunOptions from the options add_model_arguments added."""
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions

    return DatasetRunOptions(
        device=args.device,
        batch_size=args.batch_size,
        score_threshold=score_threshold(args),
        max_detections=args.max_detections,
        proposals=args.proposals,
        bf16=args.bf16,
        test_time_flip=args.test_time_flip,
        test_time_scales=args.test_time_scales,
        nested_thresh=args.nested_thresh,
        contralateral_weight=args.contralateral_weight,
        contralateral_radius=args.contralateral_radius,
        rank_decay=args.rank_decay,
        pectoral_weight=args.pectoral_weight,
        score_calibration=args.score_calibration,
        ensemble=[str(path) for path in args.ensemble],
        cache_dir=cache_dir,
        preprocess_overrides=preprocess_overrides(args),
        skip_bad=args.skip_bad,
    )


def score_threshold(args: argparse.Namespace) -> float:
    """--score-threshold as given, else the command's default."""
    given = args.score_threshold
    return args.default_score_threshold if given is None else given


def preprocess_overrides(args: argparse.Namespace) -> list[str]:
    """--image-size and --preprocess as ``key=value`` items of data.preprocess."""
    items = list(args.preprocess)
    if args.image_size is not None:
        items.append(f"image_size={args.image_size}")
    return items


@contextmanager
def warnings_as_log(logger: logging.Logger) -> Iterator[None]:
    """Show library warnings (skipped images, ...) as one log line each, not as Python's
    two-line ``file:line: UserWarning`` form with a source excerpt."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *_args, **_kw: logger.warning("%s", message)
        yield
