"""`mammorcnn compare RUN_OR_REPORT RUN_OR_REPORT ... [--out DIR]`: evaluations side by side.

Each argument is an `evaluate --out` folder, its report.json, or a demo folder. Prints the
table and writes compare.html, compare_froc.png and compare.json (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mammorcnn.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="RUN_OR_REPORT",
        help="evaluate --out folders or report.json files; the first is the reference",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="folder for compare.html (default: here)"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=2000, metavar="N", help="paired resamples (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.folder_lock import claim_output_folder as out_folder
    from mammorcnn.engine.report.compare import (
        compare,
        format_compare,
        load_evaluation,
        write_compare,
    )

    if len(args.reports) < 2:
        raise ConfigError("compare needs at least two reports")
    if args.bootstrap < 1:
        raise ConfigError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    evaluations = [load_evaluation(r) for r in args.reports]
    result = compare(evaluations, args.bootstrap, args.seed)
    print(format_compare(result))
    page = write_compare(out_folder(args.out), evaluations, result)
    print(f"\n{page.name}, compare_froc.png and compare.json written to {args.out}")
    return 0
