"""`mammorcnn convert --format F SRC OUT.json`: a public dataset's annotations -> one COCO JSON.

A thin wrapper over `mammorcnn.data.convert.convert_dataset` (formats, class mappings and
every bad-input rule are in docs/data.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mammorcnn.cli.predict import warnings_as_log

log = logging.getLogger("mammorcnn.convert")

# Command-line names -> convert_dataset's format names ("vindr" is what users type).
FORMATS = {
    "cbis-ddsm": "cbis-ddsm",
    "inbreast": "inbreast",
    "vindr": "vindr-mammo",
    "vindr-mammo": "vindr-mammo",
    "mini-mias": "mini-mias",
    "coco": "coco",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="source format")
    parser.add_argument("src", type=Path, help="the dataset's folder or annotation file")
    parser.add_argument("out_json", type=Path, metavar="OUT.json", help="COCO JSON to write")
    parser.add_argument(
        "--lesion-types",
        default="mass",
        help="comma-separated findings to keep: mass, calcification, architectural_distortion, "
        "asymmetry (default: mass)",
    )
    parser.add_argument(
        "--classes",
        choices=("mass", "pathology"),
        default="mass",
        help="one class per lesion type (mass), or benign/malignant (pathology)",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out images with a problem (warning; listed in skipped.json beside OUT.json)",
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.data import convert_dataset

    lesion_types = tuple(t.strip() for t in args.lesion_types.split(",") if t.strip())
    with warnings_as_log(log):
        report = convert_dataset(
            FORMATS[args.format],
            args.src,
            args.out_json,
            lesion_types=lesion_types,
            class_mapping=args.classes,
            skip_bad=args.skip_bad,
        )
    categories = ", ".join(f"{name} {n}" for name, n in report.per_category.items())
    print(
        f"{report.out_json}: {report.n_images} image(s) ({report.n_negative_images} without "
        f"lesions), {report.n_annotations} annotation(s) ({categories}; "
        f"{report.n_box_only} box-only)"
    )
    if report.ignored:
        print("ignored findings: " + ", ".join(f"{k} {v}" for k, v in report.ignored.items()))
    if report.skipped_json is not None:
        print(f"{len(report.skipped)} item(s) skipped, listed in {report.skipped_json}")
    return 0
