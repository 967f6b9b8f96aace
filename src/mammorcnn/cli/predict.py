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
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from mammorcnn.errors import ConfigError, InputError, MammoError

log = logging.getLogger("mammorcnn.predict")

SKIPPED_FILE = "skipped.json"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, score_threshold: float) -> None:
    """Options shared by predict and evaluate: device, batching, threshold, input settings."""
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=score_threshold,
        help=f"keep detections with at least this score (default {score_threshold})",
    )
    parser.add_argument(
        "--max-detections",
        type=int,
        help="keep at most this many detections per image (default: all the model returns)",
    )
    parser.add_argument(
        "--proposals",
        type=_positive_int,
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


def preprocess_overrides(args: argparse.Namespace) -> list[str]:
    """--image-size and --preprocess as ``key=value`` items of data.preprocess."""
    items = list(args.preprocess)
    if args.image_size is not None:
        items.append(f"image_size={args.image_size}")
    return items


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
        "--skip-bad",
        action="store_true",
        help=f"skip unreadable inputs with a warning and list them in {SKIPPED_FILE}",
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


@contextmanager
def warnings_as_log(logger: logging.Logger) -> Iterator[None]:
    """Show library warnings (skipped images, ...) as one log line each, not as Python's
    two-line ``file:line: UserWarning`` form with a source excerpt."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *_args, **_kw: logger.warning("%s", message)
        yield


def out_folder(out: Path, held: ExitStack | None = None, command: str = "predict") -> Path:
    """Create the output folder; a path that cannot be one is named in one line. With `held`,
    lock it until `held` closes: one writer per folder (docs/robustness.md, "Faults")."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            out, f"cannot create the output folder ({error.strerror or error})"
        ) from None
    if held is not None:
        from mammorcnn.engine.folder_lock import folder_lock

        held.enter_context(folder_lock(out, command))
    return out


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.graceful_stop import GracefulStop

    with warnings_as_log(log), ExitStack() as held, GracefulStop():
        return _run(args, held)


def _run(args: argparse.Namespace, held: ExitStack) -> int:
    from tqdm import tqdm

    from mammorcnn.engine.graceful_stop import stop_if_requested
    from mammorcnn.engine.inference import (
        Predictor,
        check_preprocess_overrides,
        find_inputs,
        load_trained_model,
        output_stem,
    )
    from mammorcnn.engine.inference.predictions_file import FILE_NAME, write_predictions
    from mammorcnn.engine.inference.predictor import batched
    from mammorcnn.engine.inference.writer import ImageWriter
    from mammorcnn.engine.outputs import unique_output_names, write_json

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    remote = open_dicomweb(args)
    paths = remote.instances if remote else find_inputs(args.inputs, exclude=args.out)
    label = remote.label if remote else str
    loaded = load_trained_model(
        args.weights, args.device, fast=True, proposals=args.proposals, bf16=args.bf16
    )
    check_preprocess_overrides(loaded, preprocess_overrides(args))
    predictor = Predictor(loaded, args.score_threshold, args.batch_size, args.max_detections)
    out = out_folder(args.out, held)
    names = unique_output_names(remote.names if remote else (output_stem(p) for p in paths))
    writer = ImageWriter(out, loaded, seg=not args.no_seg, overlay=not args.no_overlay)
    skipped: list[dict[str, Any]] = []

    def skip(path: Any, kind: str, error: MammoError) -> None:
        error = remote.relabel(error) if remote else error
        if not args.skip_bad or getattr(error, "fatal", False):
            raise error
        # the error names the file already ("x.png: corrupt"); say it once
        log.warning("skipped %s", error if label(path) in str(error) else f"{label(path)}: {error}")
        problem = getattr(error, "problem", None) or str(error)
        skipped.append({"file": label(path), "kind": kind, "problem": problem})

    def prepared():  # noqa: ANN202 - yields (image id, output name, PreparedImage)
        for image_id, (path, name) in enumerate(zip(paths, names), start=1):
            try:
                yield image_id, name, predictor.prepare_file(remote.fetch(path) if remote else path)
            except MammoError as error:
                skip(path, "image", error)

    log.info("predicting %d file(s) into %s", len(paths), out)
    with tqdm(total=len(paths), desc="predict", unit="image", disable=None) as bar:
        for batch in batched(prepared(), args.batch_size):
            detections = predictor.predict([item for _, _, item in batch])
            for (image_id, name, item), det in zip(batch, detections):
                # e.g. a DICOM without the UIDs a SEG must reference
                writer.write(image_id, name, item, det, lambda e, p=item.source: skip(p, "seg", e))
                if remote:
                    remote.release(item.source)
            bar.update(len(batch))
            # SIGTERM/Ctrl-C: stop between images (exit 143/130); each image's files are whole
            stop_if_requested(
                f"with {len(writer.images)} of {len(paths)} image(s) written to {out}"
            )
        bar.update(len(paths) - bar.n)  # skipped files
    settings = {"score_threshold": args.score_threshold, "max_detections": args.max_detections}
    images = remote.entries(writer.images) if remote else writer.images
    write_predictions(out / FILE_NAME, images, writer.results, loaded, settings)
    from mammorcnn.engine.report.prediction_page import write_prediction_index

    write_prediction_index(out)  # index.html: overlays by study and breast (docs/evaluation.md)
    if args.skip_bad:
        write_json(skipped, out / SKIPPED_FILE, indent=1)
    if remote:
        identity = {**settings, "proposals": args.proposals, "bf16": args.bf16}
        pushed = remote.finish(out, writer.images, loaded.path, identity, args.push, args.force)
        remote.close()
        if args.push:
            print(f"stored {len(pushed.stored)} SEG(s); {len(pushed.kept)} already stored")
    print(
        f"{len(writer.images)} image(s), {len(writer.results)} detection(s) with score >= "
        f"{args.score_threshold:g}; {len(skipped)} skipped; outputs in {out}"
    )
    return 0
