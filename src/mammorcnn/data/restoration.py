"""Corrupted views of unlabelled images for restoration pretraining (Models Genesis).

Zhou et al., "Models Genesis" (MICCAI 2019; Medical Image Analysis 2021), pretrain a
medical-image encoder from scratch by restoring images from four corruptions: a random
monotonic intensity curve, local pixel shuffling, in-painting and out-painting. Restoring
them needs the appearance, texture and context of the tissue, and no labels: any mammogram
can teach it (docs/training.md, "Restoration pretraining"). No maintained library offers
these corruptions for 2-D tensors, so they are written here, on torch's global random state
(seeded per worker and restored on resume, like every augmentation of the training set) or
an explicit ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class CorruptionSettings:
    """How often each corruption is applied (train.restore_pretrain's fields)."""

    intensity_prob: float = 0.9  # a random monotonic Bezier curve over the grey levels
    shuffle_prob: float = 0.5  # local pixel shuffling in small windows
    paint_prob: float = 0.9  # in- or out-painting with noise
    inpaint_share: float = 0.2  # of the paintings, this share in-paints (the rest out-paints)


def _rand(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """An integer in [low, high) (low when the range is empty)."""
    if high <= low:
        return low
    return int(torch.randint(low, high, (), generator=generator))


def bezier_curve(control: Tensor, steps: int = 1001) -> tuple[Tensor, Tensor]:
    """Points (x, y) of the cubic Bezier curve through `control` (4 x 2), in order of t."""
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    weights = torch.cat([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3], dim=1)
    points = weights @ control.to(torch.float64)
    return points[:, 0], points[:, 1]


def intensity_curve(image: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Grey levels in [0, 1] mapped through a random monotonic curve from (0, 0) to (1, 1),
    or (with probability 1/2) its mirror from (0, 1) to (1, 0)."""
    inner = torch.rand((2, 2), generator=generator, dtype=torch.float64)
    control = torch.cat([torch.zeros(1, 2, dtype=torch.float64), inner,
                         torch.ones(1, 2, dtype=torch.float64)])  # fmt: skip
    xs, ys = bezier_curve(control)
    # x(t) never falls when the inner x's lie in [0, 1] (its derivative is linear in them and
    # >= 0 at the four corners of [0, 1]^2), so y is a function of x; the sort only guards
    # against rounding.
    xs, order = torch.sort(xs)
    ys = ys[order]
    if _rand(generator) < 0.5:
        ys = 1 - ys
    flat = image.clamp(0, 1).to(torch.float64).flatten()
    index = torch.searchsorted(xs, flat).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = xs[index - 1], xs[index], ys[index - 1], ys[index]
    share = torch.where(x1 > x0, (flat - x0) / (x1 - x0).clamp_min(1e-12), torch.zeros_like(flat))
    return (y0 + share * (y1 - y0)).reshape(image.shape).to(image.dtype)


def shuffle_pixels(
    image: Tensor, windows: int = 200, max_size: int = 8, generator: torch.Generator | None = None
) -> Tensor:
    """`windows` random small windows (up to `max_size` px a side) with their pixels permuted:
    the texture there is lost, the window's grey levels kept."""
    out = image.clone()
    _, height, width = image.shape
    for _ in range(windows):
        h, w = _randint(1, max_size + 1, generator), _randint(1, max_size + 1, generator)
        y, x = _randint(0, height - h + 1, generator), _randint(0, width - w + 1, generator)
        block = out[:, y : y + h, x : x + w].reshape(out.shape[0], -1)
        order = torch.randperm(block.shape[1], generator=generator)
        out[:, y : y + h, x : x + w] = block[:, order].reshape(out.shape[0], h, w)
    return out


def _box(height: int, width: int, low: float, high: float, generator: torch.Generator | None):
    """A random box whose sides are between `low` and `high` of the image's."""
    h = _randint(int(height * low), int(height * high) + 1, generator)
    w = _randint(int(width * low), int(width * high) + 1, generator)
    y, x = _randint(0, height - h + 1, generator), _randint(0, width - w + 1, generator)
    return y, x, max(h, 1), max(w, 1)


def inpaint(image: Tensor, boxes: int = 5, generator: torch.Generator | None = None) -> Tensor:
    """Up to `boxes` boxes (1/6 to 1/4 of a side) filled with uniform noise: their content
    has to be inferred from the tissue around them."""
    out = image.clone()
    channels, height, width = image.shape
    for _ in range(_randint(1, boxes + 1, generator)):
        y, x, h, w = _box(height, width, 1 / 6, 1 / 4, generator)
        out[:, y : y + h, x : x + w] = torch.rand((channels, h, w), generator=generator)
    return out


def outpaint(image: Tensor, boxes: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """Everything but up to `boxes` boxes (1/2 to 3/4 of a side) replaced by uniform noise:
    the tissue outside has to be extended from what is left."""
    channels, height, width = image.shape
    out = torch.rand(image.shape, generator=generator).to(image.dtype)
    for _ in range(_randint(1, boxes + 1, generator)):
        y, x, h, w = _box(height, width, 1 / 2, 3 / 4, generator)
        out[:, y : y + h, x : x + w] = image[:, y : y + h, x : x + w]
    return out


def corrupt(
    image: Tensor, settings: CorruptionSettings, generator: torch.Generator | None = None
) -> Tensor:
    """One corrupted view of a CxHxW image in [0, 1] (every channel alike), in Models
    Genesis's order: intensity curve, pixel shuffling, then in- or out-painting."""
    out = image
    if _rand(generator) < settings.intensity_prob:
        out = intensity_curve(out, generator)
    if _rand(generator) < settings.shuffle_prob:
        out = shuffle_pixels(out, generator=generator)
    if _rand(generator) < settings.paint_prob:
        if _rand(generator) < settings.inpaint_share:
            out = inpaint(out, generator=generator)
        else:
            out = outpaint(out, generator=generator)
    return out


class RestorationDataset(torch.utils.data.Dataset):
    """(corrupted view, {"original": image}) pairs from any dataset of (image, target) pairs;
    the targets (boxes, masks) are not used: the images need no labels."""

    def __init__(self, images: Any, settings: CorruptionSettings) -> None:
        self.images, self.settings = images, settings

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        image, _ = self.images[index]
        return corrupt(image, self.settings), {"original": image}
