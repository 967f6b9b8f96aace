"""`mammorcnn predict --weights W INPUT... --out DIR`: detect and segment masses in files.

Outputs, all in the original image's pixels and each written atomically (see
docs/evaluation.md): predictions.json, per image NAME_mask.png and NAME_overlay.png, and for
DICOM inputs NAME_seg.dcm. A bad input stops the run with one line naming it; with
--skip-bad it is skipped with a warning and listed in skipped.json.

With --dicomweb URL the images come from a PACS instead (QIDO-RS/WADO-RS) and --push stores
the SEGs back into their studies (STOW-RS); see mammorcnn.engine.dicomweb.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from mammorcnn.cli.common import add_model_arguments, run_options, warnings_as_log
from mammorcnn.engine.inference.files_run import SKIPPED_FILE
from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.predict")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="DICOM/PNG/TIFF/PGM files or folders (searched recursively); or use --dicomweb",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        required=True,
        help="weights file (.safetensors) or a training run folder (uses its best checkpoint)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_arguments(parser, score_threshold=0.5)
    parser.add_argument(
        "--operating-point",
        type=Path,
        metavar="REPORT",
        help="take the score threshold from an evaluation's report.json (evaluate's, or a "
        "crossval's pooled/report.json): the threshold of its --fp-per-image point",
    )
    parser.add_argument(
        "--fp-per-image",
        type=float,
        default=1.0,
        metavar="F",
        help="with --operating-point: the false positives per image of the point, one the "
        "report lists (default 1)",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help=f"skip unreadable inputs with a warning and list them in {SKIPPED_FILE}",
    )
    parser.add_argument(
        "--view",
        metavar="VIEW",
        help="the view (MLO, CC, ...) of inputs that do not state one in their DICOM header "
        "or file name; the pectoral rule (model.box_head.pectoral_weight) reads it",
    )
    parser.add_argument("--no-seg", action="store_true", help="do not write DICOM SEG files")
    parser.add_argument("--no-overlay", action="store_true", help="do not write overlay PNGs")
    add_dicomweb_arguments(parser)


def add_dicomweb_arguments(parser: argparse.ArgumentParser) -> None:
    """Images from a PACS; credentials only from the environment (never the command line)."""
    group = parser.add_argument_group(
        "DICOMweb (credentials from MAMMORCNN_DICOMWEB_USER + MAMMORCNN_DICOMWEB_PASSWORD, "
        "or MAMMORCNN_DICOMWEB_TOKEN)"
    )
    group.add_argument("--dicomweb", metavar="URL", help="DICOMweb base URL of the PACS")
    group.add_argument(
        "--study", action="append", default=[], metavar="UID", help="StudyInstanceUID (repeatable)"
    )
    group.add_argument(
        "--since", metavar="YYYY-MM-DD", help="every study with a StudyDate on or after this day"
    )
    group.add_argument(
        "--push", action="store_true", help="store each DICOM SEG into its study (STOW-RS)"
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="--push even where the same weights and settings already stored a SEG",
    )
    group.add_argument(
        "--dicomweb-timeout", type=float, metavar="SECONDS", help="per request (default 60)"
    )
    group.add_argument(
        "--dicomweb-insecure",
        action="store_true",
        help="do not verify the server's TLS certificate (test servers only; logs a warning)",
    )


def open_dicomweb(args: argparse.Namespace):  # noqa: ANN201 - DicomwebInputs or None
    """The PACS images of --dicomweb (queried now: a bad study fails before the model loads)."""
    remote_only = args.study or args.since or args.push or args.force
    if args.dicomweb is None:
        if not args.inputs:
            raise ConfigError("give INPUT files or folders, or --dicomweb URL with --study/--since")
        if remote_only:
            raise ConfigError("--study, --since, --push and --force need --dicomweb URL")
        return None
    if args.inputs:
        raise ConfigError("give either INPUT files or --dicomweb, not both")
    if not args.study and not args.since:
        raise ConfigError("--dicomweb needs --study UID or --since YYYY-MM-DD")
    if args.push and args.no_seg:
        raise ConfigError("--push stores the SEGs that --no-seg leaves out")
    from mammorcnn.engine.dicomweb import DicomwebInputs

    return DicomwebInputs(
        args.dicomweb, args.study, args.since, args.dicomweb_insecure, args.dicomweb_timeout
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.graceful_stop import GracefulStop

    with warnings_as_log(log), ExitStack() as held, GracefulStop():
        return _run(args, held)


def _run(args: argparse.Namespace, held: ExitStack) -> int:
    from mammorcnn.engine.inference.files_run import predict_files

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    view = args.view.upper() if args.view else None
    options = replace(with_operating_point(run_options(args), args), assumed_view=view)
    remote = open_dicomweb(args)
    run = predict_files(
        args.weights,
        args.inputs,
        args.out,
        options,
        seg=not args.no_seg,
        overlay=not args.no_overlay,
        remote=remote,
        push=args.push,
        force=args.force,
        held=held,
    )
    if remote and args.push:
        print(f"stored {len(run.pushed.stored)} SEG(s); {len(run.pushed.kept)} already stored")
    print(
        f"{len(run.images)} image(s), {len(run.results)} detection(s) with score >= "
        f"{options.score_threshold:g}; {len(run.skipped)} skipped; outputs in {args.out}"
    )
    return 0


def with_operating_point(options, args: argparse.Namespace):  # noqa: ANN001, ANN201
    """The run options with --operating-point's threshold and its source (recorded in
    predictions.json); unchanged without it."""
    from mammorcnn.engine.metrics.operating_point import threshold_from_report

    if args.operating_point is None:
        return options
    if args.score_threshold is not None:
        raise ConfigError(
            "--score-threshold and --operating-point both set the threshold; give one"
        )
    threshold = threshold_from_report(args.operating_point, args.fp_per_image)
    print(
        f"score threshold {threshold:.4g}: the {args.fp_per_image:g} FP/image point of "
        f"{args.operating_point}"
    )
    source = {"report": str(args.operating_point), "fp_per_image": args.fp_per_image}
    return replace(options, score_threshold=threshold, operating_point=source)
