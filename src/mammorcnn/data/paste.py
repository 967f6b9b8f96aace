"""Copy-paste of lesions: a lesion of another training image blended into this one.

Why: a small set has few masses (a mini-MIAS training fold: about 30) and many lesion-free
films. Pasting a real mass, cut out with its mask, into another woman's film at a random place
in her breast shows the model the same mass against other tissue, and turns lesion-free films
into positives (Ghiasi et al., "Simple Copy-Paste is a Strong Data Augmentation Method for
Instance Segmentation", CVPR 2021, found the largest gains with the least data).

Two things keep the paste from leaving a seam the model could learn instead of the lesion
(a mini-MIAS lesion is a circle that holds tissue around the mass, so a plain paste shows a
ring): the patch is cloned seamlessly in the manner of Poisson image editing (Perez et al.,
2003), its intensity corrected by the harmonic function that makes its box's outer ring equal
the tissue it lands on, which keeps the lesion's own structure and adopts the surrounding
brightness; and its edge is feathered (its alpha falls from 1 on the mask to 0 over
``FEATHER`` pixels around it). A patch only lands where it lies wholly in the image, almost
wholly on breast pixels, and on no other lesion's box.

torchvision has no copy-paste transform (its detection references show one only as an
example for COCO batches, without blending), hence this module. It runs on the preprocessed
image before the crop and the v2 augmentation (data/augment.py), so the pasted lesion is then
cropped, flipped, rotated and re-toned like a real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.fft import dstn, idstn

from mammorcnn.data.augment import boxes_from_masks

# Width (model pixels) of the feathered edge on each side of the mask's outline.
FEATHER = 4
# Placements tried before the paste is given up for this sample.
TRIES = 10
# Share of the patch's footprint that must lie on breast pixels (> 0).
MIN_ON_BREAST = 0.95


@dataclass
class LesionPatch:
    """A lesion cut out of its image: the pixels under its padded box and its mask there."""

    pixels: torch.Tensor  # (h, w) float, the donor image under the box
    mask: torch.Tensor  # (h, w) bool, the lesion
    label: int


def cut_patch(image: torch.Tensor, mask: torch.Tensor, label: int) -> LesionPatch | None:
    """The patch of ``mask`` (H, W) in ``image`` (1, H, W): its box padded by FEATHER on each
    side. None for an empty mask, and for a lesion whose padded box leaves the image or holds
    background (pixels <= 0): a lesion cut by the film's edge or the skin line would paste a
    straight edge that no mass has."""
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    if len(rows) == 0:
        return None
    height, width = mask.shape
    y0, y1 = int(rows[0]) - FEATHER, int(rows[-1]) + 1 + FEATHER
    x0, x1 = int(cols[0]) - FEATHER, int(cols[-1]) + 1 + FEATHER
    if y0 < 0 or x0 < 0 or y1 > height or x1 > width:
        return None
    pixels = image[0, y0:y1, x0:x1]
    if bool((pixels <= 0).any()):
        return None
    return LesionPatch(pixels.clone(), mask[y0:y1, x0:x1].bool().clone(), label)


def feathered_alpha(mask: torch.Tensor) -> torch.Tensor:
    """The mask's blending weight: 1 on the mask, falling linearly outside it to 0 at FEATHER
    + 1 pixels (chessboard distance d gets 1 - d / (FEATHER + 1)), so the lesion itself is
    pasted whole however small it is, and only the tissue around it is blended."""
    alpha = mask.float()
    for d in range(1, FEATHER + 1):
        grown = torch.nn.functional.max_pool2d(mask[None, None].float(), 2 * d + 1, 1, d)[0, 0]
        alpha = torch.maximum(alpha, grown * (1 - d / (FEATHER + 1)))
    return alpha


def harmonic_fill(border: np.ndarray) -> np.ndarray:
    """The harmonic function on a rectangle (discrete Laplacian 0 inside) that equals
    ``border`` on its outer ring; the values inside ``border`` are ignored.

    Solved exactly with the type-I discrete sine transform, which diagonalises the 5-point
    Laplacian with Dirichlet boundaries: eigenvalues 2 cos(pi k / (n + 1)) - 2 per axis.
    """
    h, w = border.shape
    out = border.astype(np.float64)
    if h < 3 or w < 3:
        return out
    rhs = np.zeros((h - 2, w - 2))
    rhs[0, :] -= out[0, 1:-1]
    rhs[-1, :] -= out[-1, 1:-1]
    rhs[:, 0] -= out[1:-1, 0]
    rhs[:, -1] -= out[1:-1, -1]
    rows = 2 * np.cos(np.pi * np.arange(1, h - 1) / (h - 1)) - 2
    cols = 2 * np.cos(np.pi * np.arange(1, w - 1) / (w - 1)) - 2
    out[1:-1, 1:-1] = idstn(dstn(rhs, type=1) / (rows[:, None] + cols[None, :]), type=1)
    return out


def scaled_patch(patch: LesionPatch, factor: float) -> LesionPatch | None:
    """The patch resized by ``factor``: pixels bilinear (antialiased when shrinking), the mask
    where its resized cover is over one half; None when nothing of the mask is left.

    The result again holds FEATHER pixels of tissue around the mask's box, as cut_patch
    leaves it: a larger patch is cropped to them, and a smaller one, whose padding shrank
    with it, gets its edge tissue repeated, so its feathered edge fades over as many pixels
    as an unscaled patch's. The repeated pixels lie outside the mask, where the paste is only
    partly opaque and the harmonic correction matches it to the recipient.
    """
    if factor == 1.0:
        return patch
    h, w = patch.mask.shape
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    resize = dict(size=size, mode="bilinear", align_corners=False, antialias=factor < 1)
    pixels = torch.nn.functional.interpolate(patch.pixels[None, None].float(), **resize)
    cover = torch.nn.functional.interpolate(patch.mask[None, None].float(), **resize)
    # repeat the edge tissue out by FEATHER, then cut as cut_patch cuts a lesion
    pad = (FEATHER,) * 4
    pixels = torch.nn.functional.pad(pixels, pad, mode="replicate")[0].to(patch.pixels.dtype)
    mask = torch.nn.functional.pad(cover, pad)[0, 0] > 0.5
    return cut_patch(pixels, mask, patch.label)


def _randint(low: int, high: int) -> int:
    """Uniform integer in [low, high] from torch's RNG (seeded per worker and resumable)."""
    return int(torch.randint(low, high + 1, ()).item()) if high > low else low


def find_place(
    image: torch.Tensor, boxes: torch.Tensor, footprint: torch.Tensor
) -> tuple[int, int] | None:
    """Top-left (y, x) of a placement of ``footprint`` (h, w bool): centred on a random
    breast pixel, wholly inside the image, almost wholly on the breast, overlapping no box."""
    height, width = image.shape[-2:]
    h, w = footprint.shape
    breast = image[0] > 0
    inside = torch.nonzero(breast)
    if h > height or w > width or len(inside) == 0:
        return None
    for _ in range(TRIES):
        cy, cx = inside[_randint(0, len(inside) - 1)].tolist()
        y0 = min(max(cy - h // 2, 0), height - h)
        x0 = min(max(cx - w // 2, 0), width - w)
        on_breast = breast[y0 : y0 + h, x0 : x0 + w][footprint].float().mean()
        if on_breast < MIN_ON_BREAST:
            continue
        if len(boxes):
            apart = (
                (boxes[:, 2] <= x0) | (boxes[:, 0] >= x0 + w)
                | (boxes[:, 3] <= y0) | (boxes[:, 1] >= y0 + h)
            )  # fmt: skip
            if not bool(apart.all()):
                continue
        return y0, x0
    return None


def with_lesion(target: dict[str, Any], mask: torch.Tensor, label: int) -> dict[str, Any]:
    """``target`` with one more lesion: ``mask`` (H, W) of the whole image, its box, label."""
    mask = mask.to(target["masks"].dtype)
    box = boxes_from_masks(mask[None], torch.zeros(1, 4), torch.ones(1, dtype=torch.bool))
    new = dict(target)
    new["boxes"] = torch.cat([target["boxes"], box.to(target["boxes"].dtype)])
    new["labels"] = torch.cat([target["labels"], torch.tensor([label])])
    new["masks"] = torch.cat([target["masks"], mask[None]])
    valid = target.get("mask_valid", torch.ones(len(target["boxes"]), dtype=torch.bool))
    new["mask_valid"] = torch.cat([valid.bool(), torch.tensor([True])])
    return new


class LesionPaste:
    """``(image 1xHxW, target, patch source) -> (image, target)``: with probability ``prob``
    one more lesion, from ``source()`` (a random lesion of the training set, or None),
    flipped up-down half of the time, turned by a random number of quarter turns when
    ``rotate``, and resized by a factor drawn log-uniformly from ``scale`` (no draw when it
    is (1, 1))."""

    def __init__(
        self, prob: float, scale: tuple[float, float] = (1.0, 1.0), rotate: bool = False
    ) -> None:
        self.prob = prob
        self.scale = (float(scale[0]), float(scale[1]))
        self.rotate = rotate

    def __call__(
        self,
        image: torch.Tensor,
        target: dict[str, Any],
        source: Callable[[], LesionPatch | None],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.prob <= 0 or float(torch.rand(())) >= self.prob:
            return image, target
        patch = source()
        if patch is None:
            return image, target
        if float(torch.rand(())) < 0.5:  # up-down, as the training flips (chest wall stays)
            patch = LesionPatch(patch.pixels.flip(0), patch.mask.flip(0), patch.label)
        turns = _randint(0, 3) if self.rotate else 0
        if turns:  # exact quarter turns: the box, its margin and the mask turn together
            pixels, mask = patch.pixels.rot90(turns), patch.mask.rot90(turns)
            patch = LesionPatch(pixels.contiguous(), mask.contiguous(), patch.label)
        patch = scaled_patch(patch, self.factor())
        if patch is None:
            return image, target
        alpha = feathered_alpha(patch.mask)
        place = find_place(image, target["boxes"], alpha > 0)
        if place is None:
            return image, target
        return self.blend(image, target, patch, alpha, place)

    def factor(self) -> float:
        """The patch's size factor: log-uniform in ``scale``, so 0.8 and 1.25 are as likely."""
        low, high = self.scale
        if low == high:
            return low
        u = float(torch.rand(()))
        return float(np.exp(np.log(low) + u * (np.log(high) - np.log(low))))

    @staticmethod
    def blend(
        image: torch.Tensor,
        target: dict[str, Any],
        patch: LesionPatch,
        alpha: torch.Tensor,
        place: tuple[int, int],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The image with the patch blended in at ``place`` and the target with its lesion."""
        y0, x0 = place
        h, w = patch.mask.shape
        out = image.clone()
        region = out[0, y0 : y0 + h, x0 : x0 + w]
        # the correction that makes the patch's outer ring the recipient's tissue; where the
        # ring lies on background, the mean difference over the rest of the ring stands in
        difference = (region - patch.pixels).double().numpy()
        ring = np.ones(difference.shape, dtype=bool)
        ring[1:-1, 1:-1] = False
        on_breast = ring & (region.numpy() > 0)
        if on_breast.any():
            difference[ring & ~on_breast] = difference[on_breast].mean()
        correction = torch.from_numpy(harmonic_fill(difference)).to(patch.pixels.dtype)
        pixels = (patch.pixels + correction).clamp(0, 1)
        blended = alpha * pixels + (1 - alpha) * region
        out[0, y0 : y0 + h, x0 : x0 + w] = torch.where(region > 0, blended, region)
        mask = torch.zeros(image.shape[-2:], dtype=torch.bool)
        lesion = patch.mask & (region > 0)  # a lesion at the skin line ends there
        mask[y0 : y0 + h, x0 : x0 + w] = lesion
        return out, with_lesion(target, mask, patch.label)
