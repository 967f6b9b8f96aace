"""Experiment: `mammorcnn evaluate` with gamma-curved test-time views beside the flips.

The up-down flip at test time gained +0.08 at 1 FP/image on mini-MIAS (docs/results.md), by
averaging two views of one image. Training also varies the film's intensity curve (gamma in
the recipe's augment range), so views of the image with its pixels raised to a power G are
views the model has learnt to read. This script runs the model on the image as it is and on
``image ** G`` for each G given, each view with its up-down mirror when the checkpoint asks
for flips (the recipe does), as more members of the predictor's ensemble: the predictor's
own loop runs them and merges all the views with the flip merge (weighted box fusion,
`merge_views`) and the nested rule, and the result is scored exactly as `mammorcnn evaluate`
does (rank decay included, applied after the merge). Results:
docs/results.md, "Gamma views at test time".

    python benchmarks/gamma_views_eval.py 0.8,1.25 -- evaluate --weights RUN --data TEST.json --out DIR

It replaces Predictor._forward for this process only; it is an experiment, not a feature.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import torch

from _patched_cli import run_patched
from mammorcnn.engine.inference import predictor


class GammaCurved(torch.nn.Module):
    """The model run on its images raised to the power ``gamma`` (pixels in [0, 1])."""

    def __init__(self, model: torch.nn.Module, gamma: float) -> None:
        super().__init__()
        self.model, self.gamma = model, gamma

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        return self.model([image.clamp(0, 1) ** self.gamma for image in images])


def gamma_views_forward(gammas: list[float]):
    """A Predictor._forward that adds, for each G, the model on image ** G as one more member
    of the predictor's ensemble, so the predictor's own loop runs its flips and merges it."""
    whole_forward = predictor.Predictor._forward

    def forward(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict]:
        members = self.ensemble
        self.ensemble = [*members, *(SimpleNamespace(model=GammaCurved(model, g)) for g in gammas)]
        try:
            return whole_forward(self, model, images)
        finally:
            self.ensemble = members

    return forward


def forward_for(setting: str):
    """The patched forward for ``G1,G2,...`` (ValueError unless all are positive numbers)."""
    gammas = [float(g) for g in setting.split(",")]
    if not gammas or not all(g > 0 for g in gammas):
        raise ValueError(f"gammas must be positive, got {setting}")
    return gamma_views_forward(gammas)


def main() -> int:
    return run_patched(__doc__, "gamma_views_eval", forward_for)


if __name__ == "__main__":
    sys.exit(main())
