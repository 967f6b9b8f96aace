"""`mammorcnn train CONFIG.yaml [key=value ...] --out RUN_DIR` (or `--resume RUN_DIR`).

SIGTERM or Ctrl-C finishes the current step, checkpoints it and exits 143/130; `--resume`
continues as if never stopped (docs/robustness.md, "Faults"). The run folder is locked.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="*",
        metavar="CONFIG.yaml | key=value",
        help="a YAML config (defaults = the specification) and dotted overrides, "
        "e.g. train.lr=0.001 model.backbone.name=deit",
    )
    parser.add_argument(
        "--out", type=Path, help="run folder (config, checkpoints, logs); default runs/<config>"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR exactly where its last checkpoint left off",
    )
    parser.epilog = (
        "Several GPUs or nodes: torchrun --nproc_per_node N -m mammorcnn.cli.main train ... "
        "(only rank 0 writes). See docs/training.md."
    )


def split_items(items: list[str]) -> tuple[Path | None, list[str]]:
    """Separate the optional config path from the ``key=value`` overrides."""
    paths = [item for item in items if "=" not in item]
    if len(paths) > 1:
        raise ConfigError(f"expected one config file, got {len(paths)}: {', '.join(paths)}")
    return (Path(paths[0]) if paths else None), [item for item in items if "=" in item]


def run(args: argparse.Namespace) -> int:
    from mammorcnn.config import load_config
    from mammorcnn.engine.graceful_stop import GracefulStop
    from mammorcnn.engine.training import load_run_config, run_training

    config_path, overrides = split_items(args.items)
    if args.resume is not None:
        if config_path is not None:
            raise ConfigError(
                f"--resume uses {args.resume}/config.yaml; do not also give {config_path}"
            )
        run_dir = args.resume
        config = load_run_config(run_dir, overrides)
    else:
        config = load_config(config_path, overrides)
        stem = config_path.stem if config_path is not None else "default"
        run_dir = args.out or Path("runs") / stem
    with GracefulStop():  # a stop exits 143 (SIGTERM) or 130 (SIGINT) after a checkpoint
        result = run_training(config, run_dir, resume=args.resume is not None)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(f"best weights: {result.best}")
        print(f"last weights: {result.last}")
    return 0
