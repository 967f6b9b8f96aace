"""Experiment: `mammorcnn evaluate` with gamma-curved test-time views beside the flips.

The up-down flip at test time gained +0.08 at 1 FP/image on mini-MIAS (docs/results.md), by
averaging two views of one image. Training also varies the film's intensity curve (gamma in
the recipe's augment range), so views of the image with its pixels raised to a power G are
views the model has learnt to read. This script runs the model on the image as it is and on
``image ** G`` for each G given, each view with its up-down mirror, and merges all the views
with the flip merge (weighted box fusion, `merge_views`) and the nested rule, then scores them
exactly as `mammorcnn evaluate` does (rank decay included, applied after the merge). Results:
docs/results.md, "Gamma views at test time".

    python benchmarks/gamma_views_eval.py 0.8,1.25 -- evaluate --weights RUN --data TEST.json --out DIR

It replaces Predictor._forward for this process only; it is an experiment, not a feature.
"""

from __future__ import annotations

import sys

import torch

from mammorcnn.cli.main import main as cli_main
from mammorcnn.engine.inference import predictor
from mammorcnn.engine.inference.flip_merge import mirror_vertically


def gamma_views_forward(gammas: list[float]):
    """A Predictor._forward that merges the flip views of the image and of each image ** G."""

    def forward(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict]:
        views: list[list[dict]] = [[] for _ in images]
        for gamma in [1.0, *gammas]:
            curved = images if gamma == 1.0 else [i.clamp(0, 1) ** gamma for i in images]
            outputs = model(curved)
            mirrored = model([i.flip(-2) for i in curved])
            for k, (image, output, mirror) in enumerate(zip(curved, outputs, mirrored)):
                views[k] += [output, mirror_vertically(mirror, image.shape[-2])]
        return predictor.merge_image_views(views, self.loaded.model_config.box_head)

    return forward


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        print(__doc__.strip().splitlines()[-3].strip(), file=sys.stderr)
        return 2
    gammas = [float(g) for g in sys.argv[1].split(",")]
    if not gammas or not all(g > 0 for g in gammas):
        print(f"gamma_views_eval: gammas must be positive, got {sys.argv[1]}", file=sys.stderr)
        return 2
    predictor.Predictor._forward = gamma_views_forward(gammas)
    return cli_main(sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
