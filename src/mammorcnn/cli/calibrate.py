"""`mammorcnn calibrate --weights W --data TRAIN.json`: put a trained model's scores on the
scale of false marks per training image (what `train.score_calibration: true` does after
training), for weights trained without it. docs/evaluation.md, "Score calibration"."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        type=Path,
        required=True,
        help="weights file (.safetensors) or training run folder (its best checkpoint); "
        "rewritten in place with the calibration added",
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="COCO JSON the model was trained on"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument(
        "--cache-dir", help="preprocessed-image cache folder (default ~/.cache/mammorcnn/...)"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mammorcnn.engine.calibrate import calibrate_weights
    from mammorcnn.engine.folder_lock import folder_lock
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions
    from mammorcnn.engine.inference.loading import resolve_weights

    weights = resolve_weights(args.weights)
    options = DatasetRunOptions(
        device=args.device, batch_size=args.batch_size, cache_dir=args.cache_dir
    )
    run_folder = args.weights if args.weights.is_dir() else None  # not a training beside it
    with folder_lock(run_folder, "calibrate"):
        calibration = calibrate_weights(weights, args.data, options)
    print(f"{weights}: scores calibrated on the {calibration.n_images} image(s) of {args.data}")
    for name, c in calibration.classes.items():
        if c.false_marks[-1] < 1.0:
            print(f"  {name}: under 1 false mark per image at any score")
            continue
        raw = float(np.interp(1.0, c.false_marks, c.scores))
        print(f"  {name}: 1 false mark per image at raw score {raw:.3f}, now 0.5")
    return 0
