"""`mammorcnn fit-anchors --data ANNOTATIONS.json [--config C.yaml] [--out snippet.yaml]`.

Anchors live in model-input pixels, so the boxes are taken from the dataset's training targets
(each image preprocessed with the config's settings, through the preprocessed-image cache:
reading 4000x3000 DICOMs again for every fit would take minutes), then fitted by
`mammorcnn.engine.anchor_fit` and compared with the config's current anchors.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from mammorcnn.cli.common import warnings_as_log
from mammorcnn.errors import InputError

log = logging.getLogger("mammorcnn.fit_anchors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="COCO JSON of the training images")
    parser.add_argument(
        "--config",
        type=Path,
        help="YAML config: its preprocessing prepares the images and its anchors are compared "
        "(default: the specification's)",
    )
    parser.add_argument(
        "--out", type=Path, help="write the YAML snippet here (it is always printed)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the k-means restarts")


def _row(
    name: str, sizes: Sequence[float], ratios: Sequence[float], iou: float, recall: float
) -> str:
    s = ", ".join(f"{v:g}" for v in sizes)
    r = ", ".join(f"{v:g}" for v in ratios)
    return f"{name:<9}{s:<34}{r:<20}{iou:>9.3f}{recall:>12.3f}"


def run(args: argparse.Namespace) -> int:
    from mammorcnn.atomic import atomic_write_bytes
    from mammorcnn.config import load_config
    from mammorcnn.engine.anchor_fit import (
        DEFAULT_STRIDES,
        evaluate_anchors,
        fit_anchors,
        training_boxes_wh,
        yaml_snippet,
    )

    config = load_config(args.config, [])
    with warnings_as_log(log):
        wh = training_boxes_wh(args.data, config)
    anchors = config.model.anchors
    current = evaluate_anchors(wh, anchors.sizes, anchors.aspect_ratios, DEFAULT_STRIDES)
    fit = fit_anchors(
        wh,
        n_sizes=len(anchors.sizes),
        n_ratios=len(anchors.aspect_ratios),
        strides=DEFAULT_STRIDES,
        seed=args.seed,
        init=(anchors.sizes, anchors.aspect_ratios),
    )
    size = config.data.preprocess.image_size
    print(f"{fit.n_boxes} boxes in model-input pixels ({size}x{size})\n")
    print(f"{'':<9}{'sizes (x stride)':<34}{'ratios (h/w)':<20}{'mean IoU':>9}{'recall@0.5':>12}")
    print(_row("current", anchors.sizes, anchors.aspect_ratios, *current))
    print(_row("fitted", fit.sizes, fit.ratios, fit.mean_best_iou, fit.recall_at_0_5))
    levels = ", ".join(
        f"P{i + 2} (stride {s}): {fit.boxes_per_level.get(s, 0)}"
        for i, s in enumerate(DEFAULT_STRIDES)
    )
    print(f"\nboxes per level (best fitted anchor): {levels}\n")
    snippet = yaml_snippet(fit)
    print(snippet, end="")
    if args.out is not None:
        try:
            atomic_write_bytes(args.out, snippet.encode("utf-8"))
        except OSError as error:
            raise InputError(args.out, f"cannot write ({error.strerror or error})") from None
        print(f"\nwritten to {args.out}")
    return 0
