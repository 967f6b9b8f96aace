"""`mammorcnn export --weights W --format onnx|torchscript OUT [--image-size S]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.export")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT", help="file to write (.onnx / .pt)")
    parser.add_argument(
        "--weights", type=Path, required=True, help="trained weights (.safetensors from train)"
    )
    parser.add_argument(
        "--format",
        choices=("onnx", "torchscript"),
        default="onnx",
        help="graph format (default onnx)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="S",
        help="fixed input side S (default: the size the model was trained at)",
    )
    parser.add_argument(
        "--proposals",
        type=int,
        metavar="N",
        help="proposals kept per image after NMS (default: the model's config; 300 is about "
        "3x faster in the box head, see docs/performance.md for the recall effect)",
    )
    parser.add_argument(
        "--no-fold-bn",
        action="store_true",
        help="keep BatchNorm layers instead of folding them into the convolutions",
    )
    parser.epilog = (
        "The graph takes one preprocessed 1x1xSxS image in [0, 1] and returns boxes, labels, "
        "scores and 14x14 mask probabilities; paste them with "
        "mammorcnn.model.mask_paste.paste_masks. See docs/performance.md."
    )


def run(args: argparse.Namespace) -> int:
    from mammorcnn.engine.export import (
        InferenceGraph,
        example_input,
        export_graph,
        load_model_for_export,
    )
    from mammorcnn.model.speed import optimize_for_inference

    model, trained_size = load_model_for_export(args.weights)
    size = args.image_size or trained_size
    if size < 32:
        raise ConfigError(f"--image-size: {size} is too small (at least 32)")
    if size != trained_size:
        log.warning(
            "exporting at %d px but the model was trained at %d px: feed it images "
            "preprocessed at %d px",
            size, trained_size, size,
        )  # fmt: skip
    if args.proposals is not None and args.proposals < 1:
        raise ConfigError(f"--proposals: must be at least 1, got {args.proposals}")
    model = optimize_for_inference(
        model,
        fold_bn=not args.no_fold_bn,
        channels_last=False,  # the graph's layout is the runtime's choice
        test_proposals=args.proposals,
        copy=False,
    )
    channels = model.config.backbone.in_channels  # 2: the film, then the other breast
    export_graph(
        InferenceGraph(model), example_input(size, channels=channels), args.out, args.format
    )
    print(f"wrote {args.out} ({args.format}, input 1x{channels}x{size}x{size})")
    return 0
