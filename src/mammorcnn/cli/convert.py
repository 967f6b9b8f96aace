"""`mammorcnn convert --format F SRC OUT.json`: a public dataset's annotations -> one COCO JSON.

A thin wrapper over `mammorcnn.data.convert.convert_dataset` (formats, class mappings and
every bad-input rule are in docs/data.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mammorcnn.cli.common import warnings_as_log

if TYPE_CHECKING:
    from mammorcnn.data.convert import ConvertReport

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
        help="leave out images with a problem (one summary by cause; every one listed in "
        "skipped.json beside OUT.json)",
    )
    parser.add_argument(
        "--official-split",
        action="store_true",
        help="also write OUT_train.json and OUT_test.json from the dataset's own split "
        "(cbis-ddsm, vindr; coco: the images' 'split' fields)",
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
            official_split=args.official_split,
        )
    for line in summary_lines(report):
        print(line)
    return 0


def summary_lines(report: ConvertReport) -> list[str]:
    """The report in a few lines: counts, what was left aside and what the numbers rest on."""
    categories = ", ".join(f"{name} {n}" for name, n in report.per_category.items())
    lines = [
        f"{report.out_json}: {report.n_images} image(s) ({report.n_negative_images} without "
        f"lesions), {report.n_annotations} annotation(s) ({categories}; "
        f"{report.n_box_only} box-only)"
    ]
    if report.n_other_findings_only:
        lines.append(
            f"{report.n_other_findings_only} of the images without lesions hold findings of "
            "other types (marked has_other_findings; not normal mammograms)"
        )
    if report.per_split:
        lines.append("official split: " + _counts(report.per_split))
    if report.ignored:
        lines.append("ignored findings (types not selected): " + _counts(report.ignored))
    if report.unknown:
        lines.append("unknown names, not converted: " + _counts(report.unknown))
    lines += [f"note: {note}" for note in report.notes]
    for name, path in report.split_files.items():
        lines.append(f"{name} split written to {path}")
    if report.skipped_json is not None:
        lines.append(f"{len(report.skipped)} item(s) skipped, listed in {report.skipped_json}")
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
