"""`mammorcnn split ANNOTATIONS.json --out DIR`: train/val(/test) files split by patient.

A thin wrapper over `mammorcnn.data.split.split_by_patient` (a patient's images never land in
two splits; see docs/data.md).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mammorcnn.cli.common import warnings_as_log
from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.split")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("annotations", type=Path, metavar="ANNOTATIONS.json")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder of <stem>_train/_val/_test.json"
    )
    parser.add_argument(
        "--val", type=float, default=0.2, help="fraction of images for val (default 0.2)"
    )
    parser.add_argument(
        "--test",
        type=float,
        default=0.0,
        help="fraction of images for test (default 0: no test file)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient order (default 0)")


def fractions(val: float, test: float) -> dict[str, float]:
    """Split fractions; train takes the rest, and a zero fraction means no such split."""
    if not (0 <= val < 1 and 0 <= test < 1) or val + test >= 1:
        raise ConfigError(
            f"--val {val:g} and --test {test:g} must be >= 0 and leave room for train"
        )
    parts = {"train": 1.0 - val - test, "val": val, "test": test}
    return {name: f for name, f in parts.items() if f > 0}


def run(args: argparse.Namespace) -> int:
    from mammorcnn.data.split import split_by_patient

    with warnings_as_log(log):
        paths = split_by_patient(
            args.annotations, fractions(args.val, args.test), args.seed, out_dir=args.out
        )
    for name, path in paths.items():
        data = json.loads(path.read_text(encoding="utf-8"))
        patients = {str(img.get("patient_id", f"image {img['id']}")) for img in data["images"]}
        print(
            f"{name:<6}{len(data['images']):>6} image(s) {len(patients):>5} patient(s) "
            f"{len(data['annotations']):>6} annotation(s)  {path}"
        )
    return 0
