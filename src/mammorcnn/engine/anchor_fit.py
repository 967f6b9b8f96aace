"""Fit the anchors' sizes and aspect ratios to the training boxes (YOLOv2-style k-means).

The specification's anchors are ``n_sizes`` sizes in units of each FPN level's stride, shared by
all levels P2..P6, times ``n_ratios`` aspect ratios (height / width): on level l a size s and
ratio r give an anchor of area (s * S_l)^2 with h = s * S_l * sqrt(r), w = s * S_l / sqrt(r).

Distance is 1 - IoU of boxes aligned at a common centre (width and height only), as in YOLOv2:
what the RPN needs is an anchor of the right shape near every box, and the grid puts one
near every centre. The clusters are constrained to that structure, so this is Lloyd's k-means
with parameterised centroids:

* assignment: each box goes to the anchor (size i, ratio j, level l) of highest IoU. This
  is also how the level is chosen: the RPN labels anchors by IoU, so the level that "owns" a
  box for the RPN is the one with its best anchor (the FPN RoI rule k = floor(4 +
  log2(sqrt(wh)/224)) serves RoI pooling and would put most boxes at 14-28 strides, far from
  the specification's 4-12);
* update: size i = geometric mean of sqrt(wh) / S_l of its boxes, ratio j = geometric mean of
  their h / w (the log-space centre, where IoU between shapes is nearly symmetric).

Several starts (one spread over the data's size range, jittered copies, and the current
configuration if given) are run; the best mean IoU wins, so the result is never worse than the
configuration passed as ``init`` on the same boxes. Boxes are in model-input pixels (after
preprocessing), where the anchors live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from mammorcnn.errors import AnnotationError
from mammorcnn.model.config import LEVEL_STRIDES

if TYPE_CHECKING:
    from mammorcnn.config import Config

DEFAULT_STRIDES: tuple[int, ...] = LEVEL_STRIDES  # the model's pyramid levels P2..P6


@dataclass(frozen=True)
class AnchorFit:
    """Fitted anchors (rounded to 2 decimals, as pasted into a config) and their fit."""

    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    mean_best_iou: float
    recall_at_0_5: float
    n_boxes: int
    boxes_per_level: dict[int, int]  # stride -> boxes whose best anchor is on that level


def anchor_shapes(
    sizes: Sequence[float], ratios: Sequence[float], strides: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) anchor (w, h) in pixels over all levels, and (A, 3) indices (size, ratio, level)."""
    s, r, lv = np.meshgrid(
        np.arange(len(sizes)), np.arange(len(ratios)), np.arange(len(strides)), indexing="ij"
    )
    index = np.stack([s.ravel(), r.ravel(), lv.ravel()], axis=1)
    side = np.asarray(sizes, float)[index[:, 0]] * np.asarray(strides, float)[index[:, 2]]
    root = np.sqrt(np.asarray(ratios, float)[index[:, 1]])
    return np.stack([side / root, side * root], axis=1), index


def centred_iou(boxes_wh: np.ndarray, anchors_wh: np.ndarray) -> np.ndarray:
    """(N, A) IoU of boxes and anchors sharing a centre."""
    inter = np.minimum(boxes_wh[:, None, 0], anchors_wh[None, :, 0]) * np.minimum(
        boxes_wh[:, None, 1], anchors_wh[None, :, 1]
    )
    area_b = boxes_wh[:, 0] * boxes_wh[:, 1]
    area_a = anchors_wh[:, 0] * anchors_wh[:, 1]
    return inter / (area_b[:, None] + area_a[None, :] - inter)


def _check_boxes(boxes_wh: np.ndarray) -> np.ndarray:
    arr = np.asarray(boxes_wh, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(arr).all(axis=1) & (arr > 0).all(axis=1)
    if not keep.any():
        raise AnnotationError(None, "no boxes with positive width and height to fit anchors to")
    return arr[keep]


def evaluate_anchors(
    boxes_wh: np.ndarray,
    sizes: Sequence[float],
    ratios: Sequence[float],
    strides: Sequence[int] = DEFAULT_STRIDES,
) -> tuple[float, float]:
    """(mean best centred IoU, fraction of boxes with best IoU >= 0.5) of an anchor config."""
    boxes = _check_boxes(boxes_wh)
    best = centred_iou(boxes, anchor_shapes(sizes, ratios, strides)[0]).max(axis=1)
    return float(best.mean()), float((best >= 0.5).mean())


def _lloyd(
    boxes: np.ndarray, sizes: np.ndarray, ratios: np.ndarray, strides: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Alternate assignment and update; returns the best (sizes, ratios, mean IoU) seen."""
    log_side = 0.5 * np.log(boxes[:, 0] * boxes[:, 1])
    log_ratio = np.log(boxes[:, 1] / boxes[:, 0])
    best = (sizes.copy(), ratios.copy(), -1.0)
    for _ in range(iters):
        shapes, index = anchor_shapes(sizes, ratios, strides)
        iou = centred_iou(boxes, shapes)
        choice = iou.argmax(axis=1)
        score = float(iou[np.arange(len(boxes)), choice].mean())
        if score <= best[2] + 1e-12:
            break  # no improvement: converged (or started to oscillate)
        best = (sizes.copy(), ratios.copy(), score)
        size_i, ratio_j, level = index[choice].T
        units = log_side - np.log(strides[level])
        new_sizes, new_ratios = sizes.copy(), ratios.copy()
        for i in range(len(sizes)):
            members = size_i == i
            if members.any():
                new_sizes[i] = np.exp(units[members].mean())
        for j in range(len(ratios)):
            members = ratio_j == j
            if members.any():
                new_ratios[j] = np.exp(log_ratio[members].mean())
        sizes, ratios = new_sizes, new_ratios
    return best


def _octave_moves(
    boxes: np.ndarray, found: tuple, strides: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Escape the typical local optimum: a size standing in for another one octave away
    (14 at P2 covers what 7 at P3 does, but leaves P6's largest boxes uncovered). Try halving
    and doubling each size, re-run Lloyd, keep any improvement, until none is left."""
    sizes, ratios, score = found
    improved = True
    while improved:
        improved = False
        for i in range(len(sizes)):
            for factor in (0.5, 2.0):
                trial = sizes.copy()
                trial[i] *= factor
                candidate = _lloyd(boxes, trial, ratios, strides, iters)
                if candidate[2] > score + 1e-9:
                    sizes, ratios, score = candidate
                    improved = True
    return sizes, ratios, score


def _spread_init(boxes: np.ndarray, n_sizes: int, n_ratios: int, strides: np.ndarray) -> tuple:
    """Sizes spanning the data: smallest anchor at the small boxes on the finest level,
    largest at the large boxes on the coarsest, at least one octave apart so every level's
    anchors tile the scale axis; ratios at quantiles of the boxes' h / w."""
    side = np.sqrt(boxes[:, 0] * boxes[:, 1])
    lo = np.percentile(side, 2) / strides.min()
    hi = max(np.percentile(side, 98) / strides.max(), 2.0 * lo)
    sizes = np.geomspace(lo, hi, n_sizes) if n_sizes > 1 else np.array([lo * np.sqrt(2)])
    q = (np.arange(n_ratios) + 0.5) / n_ratios
    ratios = np.exp(np.quantile(np.log(boxes[:, 1] / boxes[:, 0]), q))
    return sizes, ratios


def fit_anchors(
    boxes_wh: np.ndarray,
    n_sizes: int = 5,
    n_ratios: int = 3,
    strides: Sequence[int] = DEFAULT_STRIDES,
    seed: int = 0,
    init: tuple[Sequence[float], Sequence[float]] | None = None,
    restarts: int = 4,
    max_search_boxes: int = 5000,
    iters: int = 100,
) -> AnchorFit:
    """Fit ``n_sizes`` stride-unit sizes and ``n_ratios`` ratios to (N, 2) box widths/heights.

    ``init`` = (sizes, ratios) of the current config: one more start, and a floor on the
    result's mean IoU (ignored if its counts differ from ``n_sizes``/``n_ratios``).
    Deterministic for a given ``seed``.
    """
    boxes = _check_boxes(boxes_wh)
    stride_arr = np.asarray(strides, dtype=np.float64)
    rng = np.random.default_rng(seed)
    # The search runs on at most max_search_boxes (cost is linear in boxes); the candidates
    # are then ranked on all of them.
    search = boxes
    if len(boxes) > max_search_boxes:
        search = boxes[rng.choice(len(boxes), max_search_boxes, replace=False)]
    spread = _spread_init(search, n_sizes, n_ratios, stride_arr)
    starts = [spread]
    log_lo, log_hi = np.log(spread[0].min()), np.log(spread[0].max())
    for _ in range(max(restarts - 1, 0)):
        # Random sizes anywhere in the spread's range: the objective has local optima where
        # one size stands in for another an octave away (7 at P3 = 14 at P2).
        sizes = np.exp(np.sort(rng.uniform(log_lo - 0.2, log_hi + 0.2, n_sizes)))
        starts.append((sizes, spread[1] * np.exp(rng.normal(0, 0.2, n_ratios))))
    candidates = [
        _lloyd(search, np.asarray(sz), np.asarray(rt), stride_arr, iters) for sz, rt in starts
    ]
    for found in sorted(candidates, key=lambda c: -c[2])[:2]:  # polish the two best basins
        candidates.append(_octave_moves(search, found, stride_arr, iters))
    ranked = []
    if init is not None:
        init_sizes, init_ratios = (tuple(float(v) for v in values) for values in init)
        if len(init_sizes) == n_sizes and len(init_ratios) == n_ratios:
            candidates.append(
                _lloyd(search, np.array(init_sizes), np.array(init_ratios), stride_arr, iters)
            )
            # The configuration as it is competes too (unrounded): the floor of the result.
            score = evaluate_anchors(boxes, init_sizes, init_ratios, strides)
            ranked.append((score, tuple(sorted(init_sizes)), tuple(sorted(init_ratios))))
    for sizes, ratios, _ in candidates:
        # Rounded as they will be pasted; the fit is judged on what the user gets.
        sizes = tuple(sorted(round(float(s), 2) for s in sizes))
        ratios = tuple(sorted(round(float(r), 2) for r in ratios))
        ranked.append((evaluate_anchors(boxes, sizes, ratios, strides), sizes, ratios))
    (mean_iou, recall), sizes, ratios = max(ranked, key=lambda t: t[0])
    shapes, index = anchor_shapes(sizes, ratios, strides)
    level = index[centred_iou(boxes, shapes).argmax(axis=1), 2]
    per_level = {int(s): int((level == i).sum()) for i, s in enumerate(strides)}
    return AnchorFit(sizes, ratios, mean_iou, recall, len(boxes), per_level)


def yaml_snippet(fit: AnchorFit) -> str:
    """Config YAML with the fitted anchors (keys of ``mammorcnn.model.config.AnchorConfig``)."""
    body = yaml.safe_dump(
        {"model": {"anchors": {"sizes": list(fit.sizes), "aspect_ratios": list(fit.ratios)}}},
        default_flow_style=None,
        sort_keys=False,
    )
    header = (
        f"# anchors fitted by `mammorcnn fit-anchors` on {fit.n_boxes} boxes: mean best IoU "
        f"{fit.mean_best_iou:.3f}, recall at IoU 0.5 {fit.recall_at_0_5:.3f}\n"
    )
    return header + body


def training_boxes_wh(data: Path, config: Config) -> np.ndarray:
    """(N, 2) widths and heights of every annotation box in model-input pixels: the
    boxes as the model sees them, after the config's preprocessing."""
    from tqdm import tqdm

    from mammorcnn.data import CocoMammoDataset

    dataset = CocoMammoDataset(data, config.data, train=False)
    sizes = []
    for index in tqdm(range(len(dataset)), desc="boxes", unit="image", disable=None):
        boxes = dataset[index][1]["boxes"].numpy().reshape(-1, 4)
        sizes.append(boxes[:, 2:] - boxes[:, :2])
    wh = np.concatenate(sizes) if sizes else np.zeros((0, 2))
    if len(wh) == 0:
        raise AnnotationError(data, "no annotation boxes to fit anchors to")
    return wh
