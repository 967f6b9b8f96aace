"""Pectoral muscle suppression: a mass lies in the breast, not in the muscle behind it.

In a mediolateral-oblique (MLO) view the pectoral muscle is a bright triangle in the upper
corner at the chest wall, bounded by a nearly straight edge from the top of the film down to
the chest wall. A detector trained on a few dozen masses marks it often (on mini-MIAS about a
sixth of the false positives at 1 per image lay there, and no mass: docs/results.md,
"Pectoral muscle"). CAD systems for MLO views have long removed the muscle before looking for
masses; this rule does the same after the model has looked: a detection whose box centre lies
inside the muscle has its score multiplied by ``1 - weight`` (weight 1 drops it).

The muscle's edge is found as the straight line, from a point on the top edge of the breast
to a point on the chest wall, with the greatest mean contrast between the image just inside
it (towards the corner) and just outside: a Hough transform restricted to the lines a pectoral
edge can take and scored by contrast rather than by edge votes, on a block-averaged copy of
the model's input (chest wall on the left, zero outside the breast). No library segments the
pectoral muscle; scikit-image's Hough transform votes for edge pixels, which glandular tissue
supplies in plenty, and does not know which side of a line is brighter. A line that covers
less than 1 % or more than 40 % of the breast, or whose contrast is below ``min_contrast``, is
no muscle, and nothing is suppressed. Only views that show the muscle (MLO, ML, LM, LMO) are
touched; craniocaudal views and images of unknown view are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from mammorcnn.data.preprocess.breast import block_mean
from mammorcnn.errors import ConfigError

#: Views in which the pectoral muscle crosses the upper chest-wall corner of the image.
MUSCLE_VIEWS = frozenset({"MLO", "ML", "LM", "LMO"})
#: The block-averaged grid the search runs on (cells along the image's side).
GRID = 128
#: Intensity (0-1 input) above which a grid cell counts as breast.
BREAST_LEVEL = 0.02
#: The muscle's share of the breast area: outside these bounds a line is no muscle.
MIN_AREA, MAX_AREA = 0.01, 0.40
#: Points sampled along each candidate line, and the share of them that must lie in the breast.
SAMPLES, MIN_SAMPLED = 40, 0.6


@dataclass(frozen=True)
class PectoralLine:
    """The muscle's edge in model pixels: from (x_top, y_top) on the breast's top edge to
    (0, y_wall) on the chest wall; the muscle is the triangle towards (0, y_top)."""

    x_top: float
    y_top: float
    y_wall: float
    contrast: float  # mean inside-minus-outside intensity along the edge (0-1 input)

    def depth(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance (model pixels) of points into the muscle: > 0 inside the triangle's
        open side (towards the corner), < 0 in the breast."""
        height = self.y_wall - self.y_top
        a, b, c = height, self.x_top, self.x_top * height  # a*x + b*(y - y_top) = c on the edge
        return (c - (a * np.asarray(x) + b * (np.asarray(y) - self.y_top))) / np.hypot(a, b)


def check_weight(value: float, option: str) -> float:
    """``value`` if it is a usable weight (within [0, 1]; 0 is off), else a ConfigError."""
    if not 0 <= value <= 1:
        raise ConfigError(f"{option} must be within [0, 1] (0 turns it off), got {value}")
    return value


def find_pectoral_line(image: np.ndarray, min_contrast: float = 0.08) -> PectoralLine | None:
    """The pectoral edge of a model input (SxS in [0, 1], chest wall on the left, zero outside
    the breast), or None where no line is contrasted enough to be one."""
    factor = max(1, image.shape[0] // GRID)  # about GRID cells a side
    small = block_mean(np.asarray(image, dtype=np.float32), factor)
    breast = small > BREAST_LEVEL  # before smoothing, which would spread it past its edge
    small = ndimage.gaussian_filter(small, 1.0)
    rows, cols = np.flatnonzero(breast.any(1)), np.flatnonzero(breast.any(0))
    if rows.size < 8 or cols.size < 8:
        return None
    top, height, width = rows[0], rows[-1] - rows[0] + 1, cols[-1] + 1
    x_tops = np.arange(3, int(0.8 * width), dtype=np.float64)
    drops = np.arange(3, int(0.95 * height), dtype=np.float64)  # y_wall - top
    if x_tops.size == 0 or drops.size == 0:
        return None
    xt, dy = np.meshgrid(x_tops, drops, indexing="ij")
    xt, dy = xt[..., None], dy[..., None]
    t = np.linspace(0.05, 0.95, SAMPLES)
    px, py = xt * (1 - t), top + dy * t  # points along each line
    length = np.hypot(xt, dy)
    offset = max(1.0, 0.03 * small.shape[0])  # how far inside/outside the edge to look
    nx, ny = offset * dy / length, offset * xt / length  # outward normal, scaled

    def sample(grid: np.ndarray, x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
        values = ndimage.map_coordinates(grid, [y.ravel(), x.ravel()], order=order, cval=0.0)
        return values.reshape(x.shape)

    inside = sample(small, px - nx, py - ny, 1)
    outside = sample(small, px + nx, py + ny, 1)
    mask = breast.astype(np.float32)
    valid = (sample(mask, px - nx, py - ny, 0) > 0) & (sample(mask, px + nx, py + ny, 0) > 0)
    counted = valid.sum(-1)
    contrast = np.where(valid, inside - outside, 0.0).sum(-1) / np.maximum(counted, 1)
    area = 0.5 * xt[..., 0] * dy[..., 0] / breast.sum()
    usable = (counted >= MIN_SAMPLED * SAMPLES) & (area >= MIN_AREA) & (area <= MAX_AREA)
    contrast = np.where(usable, contrast, -np.inf)
    i, j = np.unravel_index(int(np.argmax(contrast)), contrast.shape)
    if not contrast[i, j] >= min_contrast:
        return None
    return PectoralLine(
        x_top=float(x_tops[i] * factor),
        y_top=float(top * factor),
        y_wall=float((top + drops[j]) * factor),
        contrast=float(contrast[i, j]),
    )


def in_muscle(boxes: Tensor, line: PectoralLine | None) -> Tensor:
    """Bool per (N, 4) x1,y1,x2,y2 model-pixel box: its centre lies inside the muscle."""
    if line is None or boxes.numel() == 0:
        return torch.zeros(boxes.shape[0], dtype=torch.bool)
    centres = ((boxes[:, :2] + boxes[:, 2:]) / 2).double().cpu().numpy()
    depth = line.depth(centres[:, 0], centres[:, 1])
    return torch.from_numpy((depth > 0) & (centres[:, 1] >= line.y_top))


def suppress_pectoral(
    scores: Tensor, boxes: Tensor, image: np.ndarray, view: str | None, weight: float
) -> tuple[Tensor, Tensor]:
    """(``scores`` with those of detections centred in the pectoral muscle of ``image``, the
    film channel of a model input, multiplied by ``1 - weight``; which detections weight 1
    drops). Unchanged for weight 0, for views without the muscle and where none is found."""
    none = torch.zeros(scores.shape[0], dtype=torch.bool, device=scores.device)
    if weight == 0 or view not in MUSCLE_VIEWS or scores.numel() == 0:
        return scores, none
    film = image[0] if image.ndim == 3 else image
    inside = in_muscle(boxes, find_pectoral_line(film)).to(scores.device)
    return torch.where(inside, scores * (1 - weight), scores), inside if weight == 1 else none
