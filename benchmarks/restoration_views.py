"""Picture of what a restoration pretraining learnt: corrupted views, restorations, originals.

A run with ``train.restore_pretrain.epochs > 0`` keeps its stage in RUN/pretrain (docs/training.md,
"Restoration pretraining"). This draws, for a few of the stage's training crops, one row of
three panels: the corrupted view the backbone saw, what the backbone and decoder restored
from it, and the original crop. Blurred restorations that keep the breast's outline and
coarse density but no texture mean the stage learnt little beyond the layout.

    python benchmarks/restoration_views.py RUN/pretrain --out views.png [--count 4] [--seed 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.phantom_pretrain import finished_weights
from mammorcnn.engine.training.restore_pretrain import restoration_parts
from mammorcnn.engine.training.run import load_run_config


def draw(stage: Path, count: int, seed: int) -> np.ndarray:
    """Rows of (view | restoration | original) in [0, 1] for `count` crops of the stage."""
    config = load_run_config(stage)  # the stage's own config: its images and corruptions
    weights = finished_weights(stage)
    if weights is None:
        raise SystemExit(f"{stage}: no finished stage (pretrained.json is missing)")
    net, views = restoration_parts(config)
    net.load_state_dict(load_weights(weights)[0])
    net.eval()
    torch.manual_seed(seed)
    picks = torch.randperm(len(views))[:count].tolist()
    rows = []
    for index in picks:
        view, target = views[index]
        with torch.no_grad():
            restored = net([view])[0] * config.model.image_std + config.model.image_mean
        panels = [view[0], restored[0].clamp(0, 1), target["original"][0]]
        rows.append(np.concatenate([p.numpy() for p in panels], axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", type=Path, help="a finished stage's folder (RUN/pretrain)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--count", type=int, default=4, help="crops to draw (rows)")
    parser.add_argument("--seed", type=int, default=1, help="which crops and corruptions")
    args = parser.parse_args()
    picture = draw(args.stage, args.count, args.seed)
    Image.fromarray((picture * 255).round().astype(np.uint8)).save(args.out)
    print(f"wrote {args.out}: {args.count} rows of view | restoration | original")


if __name__ == "__main__":
    main()
