"""Experiment: `mammorcnn evaluate` with each detection's score weighed by its mask's confidence.

Mask Scoring R-CNN (Huang et al., 2019) showed that a detection's class score says little
about how well its mask fits, and rescored detections by a learnt mask quality. Without
training a new head, the mask head's own probabilities give a proxy: a mass is a compact
blob the head is sure of, while a mark on dense tissue often gets a diffuse, uncertain mask.
This script multiplies each merged detection's score (after the flip merge and the nested
rule, before the rank decay) by ``confidence ** alpha``, where confidence is the mean
probability of the mask's pixels above 0.5 (0 for an empty mask), and scores the result
exactly as `mammorcnn evaluate` does. Results: docs/results.md, "Mask confidence".

    python benchmarks/mask_score_eval.py ALPHA -- evaluate --weights RUN --data TEST.json --out DIR

It replaces Predictor._forward for this process only; it is an experiment, not a feature.
"""

from __future__ import annotations

import sys

import torch

from _patched_cli import run_patched
from mammorcnn.engine.inference import predictor


def mask_confidence(masks: torch.Tensor) -> torch.Tensor:
    """(K,1,H,W) probabilities -> (K,) mean probability of each mask's pixels above 0.5."""
    flat = masks.flatten(1).float()
    inside = flat > predictor.MASK_THRESHOLD
    # an empty mask sums to 0, so dividing by at least 1 gives it confidence 0
    return (flat * inside).sum(1) / inside.sum(1).clamp(min=1)


def mask_scored_forward(alpha: float):
    """A Predictor._forward whose detections' scores are weighed by their masks' confidence
    and re-sorted (the rank decay that follows in Predictor.run reads the new order)."""
    whole_forward = predictor.Predictor._forward

    def forward(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict]:
        outputs = whole_forward(self, model, images)
        rescored = []
        for out in outputs:
            if "masks" not in out or len(out["scores"]) == 0:
                rescored.append(out)
                continue
            scores = out["scores"] * mask_confidence(out["masks"]) ** alpha
            order = torch.argsort(scores, descending=True, stable=True)
            out = {**out, "scores": scores}
            rescored.append({key: value[order] for key, value in out.items()})
        return rescored

    return forward


def forward_for(setting: str):
    """The patched forward for ``ALPHA`` (ValueError unless a number >= 0)."""
    alpha = float(setting)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {setting}")
    return mask_scored_forward(alpha)


def main() -> int:
    return run_patched(__doc__, "mask_score_eval", forward_for)


if __name__ == "__main__":
    sys.exit(main())
