"""Default validation for training: FROC on the validation set, and TensorBoard overlays.

Validation runs in model space (the SxS preprocessed images and targets the dataset yields):
the centre-in-lesion hit rule is unchanged by the preprocessing's crop-and-scale, and skipping
the mapping back to 4000-pixel originals keeps a validation pass cheap. `mammorcnn evaluate`
reports on the original geometry.

Under DDP each rank predicts its share of the images and the per-image results are gathered,
so every rank computes the same FROC over the whole set (the trainer's mean over ranks is
then the identity) — exact, unlike averaging per-shard FROCs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from mammorcnn.engine.inference.pectoral import suppress_pectoral
from mammorcnn.engine.inference.rank_decay import decay_by_rank
from mammorcnn.engine.metrics import DEFAULT_FP_RATES, HitRule, froc
from mammorcnn.engine.metrics.matching import ImageDetections, ImageLesions, encode_masks
from mammorcnn.engine.training.callbacks import EvaluateFn, OverlayFn
from mammorcnn.engine.training.distributed import DistInfo, gather_objects


def metric_name(fp_rate: float) -> str:
    """Name of the sensitivity at `fp_rate` false positives per image (default best metric)."""
    return f"froc/sens@{fp_rate:g}"


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _detections(output: dict) -> ImageDetections:
    masks = output.get("masks")
    rles = None if masks is None else encode_masks(masks.detach().float().cpu().numpy(), 0.5)
    return ImageDetections(
        output["boxes"].detach().cpu().numpy(), output["scores"].detach().cpu().numpy(), rles
    )


def _scored(
    output: dict, image: torch.Tensor, view: str | None, rank_decay: float, pectoral_weight: float
) -> dict:
    """The model's detections rescored as the predictor does: the rank decay, then the
    pectoral rule (detections it drops are removed)."""
    scores = decay_by_rank(output["scores"], output["labels"], rank_decay)
    scores, dropped = suppress_pectoral(
        scores, output["boxes"], image.cpu().numpy(), view, pectoral_weight
    )
    keep = ~dropped.to(scores.device)
    return {key: value[keep] for key, value in {**output, "scores": scores}.items()}


def _lesions(target: dict) -> ImageLesions:
    boxes = target["boxes"].cpu().numpy()
    masks = target.get("masks")
    if masks is None or len(boxes) == 0:
        return ImageLesions(boxes, None)
    rles = encode_masks(masks.cpu().numpy().astype(bool))
    valid = target.get("mask_valid", torch.ones(len(boxes), dtype=torch.bool)).tolist()
    return ImageLesions(boxes, [rle if ok else None for rle, ok in zip(rles, valid)])


def make_evaluator(
    val_set: Dataset,
    info: DistInfo,
    batch_size: int = 2,
    fp_rates: Sequence[float] = DEFAULT_FP_RATES,
    hit_rule: HitRule | None = None,
    rank_decay: float = 1.0,
    pectoral_weight: float = 0.0,
    views: Sequence[str | None] | None = None,
) -> EvaluateFn:
    """``evaluate(model)`` -> sensitivities at `fp_rates` and their mean, over all of val_set,
    with the model's rank decay and pectoral rule (cheap, and they change the FROC; test-time
    views are not run). ``views[i]`` is the i-th image's view (the rule needs MLO-type ones)."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        device = _device(model)
        local = []
        indices = list(range(info.rank, len(val_set), info.world_size))
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            images, targets = zip(*(val_set[i] for i in chunk))
            outputs = [
                _scored(o, image, None if views is None else views[i], rank_decay, pectoral_weight)
                for i, image, o in zip(chunk, images, model([im.to(device) for im in images]))
            ]
            local += [(i, _detections(o), _lesions(t)) for i, o, t in zip(chunk, outputs, targets)]
        results = sorted(
            (r for part in gather_objects(local, info) for r in part), key=lambda r: r[0]
        )
        result = froc(
            [r[1] for r in results], [r[2] for r in results], hit_rule or HitRule(), fp_rates
        )
        metrics = {metric_name(f): float(s) for f, s in zip(result.fp_rates, result.sensitivities)}
        metrics["froc/mean_sens"] = float(result.mean_sensitivity)
        return metrics

    return evaluate


def make_overlays(
    val_set: Dataset,
    score_threshold: float = 0.3,
    max_side: int = 512,
    class_names: Sequence[str] | None = None,
) -> OverlayFn:
    """``overlays(model, n)`` -> the first n validation images with their predictions drawn;
    with ``class_names`` each label names its class, as predict's overlays do."""
    from mammorcnn.engine.outputs.overlay import render_overlay

    def overlays(model: nn.Module, n: int) -> dict[str, torch.Tensor]:
        device = _device(model)
        out = {}
        for i in range(min(n, len(val_set))):
            image, _ = val_set[i]
            det = {k: v.detach().cpu() for k, v in model([image.to(device)])[0].items()}
            if "masks" in det:
                det["masks"] = det["masks"][:, 0].numpy()
            rgb = render_overlay(
                image[0].numpy(), det, max_side, score_threshold, class_names=class_names
            )
            out[f"val{i}"] = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)
        return out

    return overlays
