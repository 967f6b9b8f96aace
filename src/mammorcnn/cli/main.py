"""`mammorcnn` command line: one sub-command per job, each in its own module.

Every module exposes ``add_arguments(parser)`` and ``run(args) -> int``. Errors a user can cause
(:class:`mammorcnn.errors.MammoError`) become one line on stderr and exit code 2, never a
traceback; ``--debug`` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mammorcnn import __version__
from mammorcnn.errors import MammoError

# (command, module under mammorcnn.cli, one-line help). Modules are imported only when their
# command runs, so `mammorcnn --help` stays fast and a broken optional dependency of one
# command cannot break the others.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "demo", "generate synthetic phantoms, train, evaluate and report (the built-in demo)"),
    ("train", "train", "train a model from a YAML config"),
    ("evaluate", "evaluate", "FROC, COCO mAP and Dice of a model on an annotated set"),
    ("crossval", "crossval", "K-fold cross-validation by woman: train, evaluate, pool"),
    ("compare", "compare", "compare evaluations of the same ground truth (paired bootstrap)"),
    ("predict", "predict", "detect and segment masses in DICOM/PNG files"),
    ("convert", "convert", "convert CBIS-DDSM/INbreast/VinDr/mini-MIAS/COCO annotations to COCO"),
    ("split", "split", "split a COCO file into train/val/test files by patient"),
    (
        "calibrate",
        "calibrate",
        "put a trained model's scores on the scale of false marks per image",
    ),
    ("fit-anchors", "fit_anchors", "fit anchor sizes and ratios to the training boxes"),
    ("export", "export", "export an inference graph (ONNX or TorchScript)"),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to add its arguments (fast `--help`)."""
    parser = argparse.ArgumentParser(
        prog="mammorcnn",
        description="Mask R-CNN for breast-mass detection and segmentation in mammograms.",
    )
    parser.add_argument("--version", action="version", version=f"mammorcnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module)
        if name == command:
            _command_module(module).add_arguments(sub_parser)
    return parser


def _command_module(module: str):  # noqa: ANN202 - a module object
    return importlib.import_module(f"mammorcnn.cli.{module}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    names = {name for name, _, _ in COMMANDS}
    command = next((arg for arg in argv if arg in names), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:  # highdicom logs every module it copies at INFO
        logging.getLogger("highdicom").setLevel(logging.WARNING)
    try:
        return int(_command_module(args._module).run(args) or 0)
    except MammoError as error:
        if args.debug:
            raise
        print(f"mammorcnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mammorcnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
