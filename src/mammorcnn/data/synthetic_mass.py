"""Synthetic masses drawn into real training images (``data.augment.synthetic_mass_prob``).

Why: copy-paste (data/paste.py) shows a fold's few dozen real masses against other tissue,
but never a shape or size that none of them has. The phantoms' masses
(data/synthetic/masses.py: star-shaped outlines from round to spiculated, a dome-shaped
density whose mask is exactly the pixels it brightens) have any shape and size, and drawn into
a real film they sit on real tissue, which phantom backgrounds only imitate. The brightening
is added to the tissue rather than replacing it, so the tissue's texture shows through the
mass as it does through a real one. It is a fraction of the tissue's headroom to white
(1 - tissue), as film's response flattens towards white: a mass in dense tissue adds less
and never saturates into a flat plateau, and the fraction matches what mini-MIAS's masses
show (their inner mean exceeds the ring around them by 0.26 to 0.79 of the ring's headroom,
10th to 90th percentile, median 0.49, at 512 px). Its margin is blurred by a Gaussian of
a random width, from sharp (circumscribed) to ill-defined.

It runs where the paste does: on the preprocessed image before the crop and the v2
augmentation, so the drawn mass is then cropped, flipped, rotated, warped and re-toned like a
real one. Random draws come from torch's RNG (seeded per worker and resumable, as every
augmentation here); the shape's own parameters from a numpy generator seeded by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from mammorcnn.data.paste import find_place, with_lesion
from mammorcnn.data.synthetic.masses import SHAPES, random_shape, render_mass

# Range of the margin's blur (Gaussian sigma) as a fraction of the mass's radius.
MARGIN_BLUR = (0.02, 0.15)


class SyntheticMass:
    """``(image 1xHxW, target) -> (image, target)``: with probability ``prob`` one more mass,
    of a random shape, diameter ``size`` x the image side and peak brightening ``contrast``
    (a fraction of the tissue's headroom to white; both drawn uniformly), at a random breast
    place clear of the image's lesions, labelled ``label``."""

    def __init__(
        self,
        prob: float,
        size: tuple[float, float],
        contrast: tuple[float, float],
        label: int = 1,
    ) -> None:
        self.prob = prob
        self.size = (float(size[0]), float(size[1]))
        self.contrast = (float(contrast[0]), float(contrast[1]))
        self.label = label

    def __call__(
        self, image: torch.Tensor, target: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.prob <= 0 or float(torch.rand(())) >= self.prob:
            return image, target
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
        side = min(image.shape[-2:])
        radius = rng.uniform(*self.size) * side / 2
        mass = random_shape(rng, str(rng.choice(SHAPES)), radius)
        blur = rng.uniform(*MARGIN_BLUR) * radius
        half = int(np.ceil(mass.extent() + 3 * blur)) + 1
        window = (2 * half + 1, 2 * half + 1)
        _, mask, density = render_mass(mass, (half + 0.5, half + 0.5), window)
        density = gaussian_filter(density, blur) if blur >= 0.3 else density
        if not mask.any():
            return image, target
        mask, density = torch.from_numpy(mask), torch.from_numpy(density)
        place = find_place(image, target["boxes"], mask)
        if place is None:
            return image, target
        return self.draw(image, target, mask, density * rng.uniform(*self.contrast), place)

    def draw(
        self,
        image: torch.Tensor,
        target: dict[str, Any],
        mask: torch.Tensor,
        brightening: torch.Tensor,
        place: tuple[int, int],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The image with ``brightening`` (h, w; fractions of the headroom to white) added at
        ``place`` on breast pixels, and the target with the mass (``mask`` there; a mass at
        the skin line ends there)."""
        y0, x0 = place
        h, w = mask.shape
        out = image.clone()
        region = out[0, y0 : y0 + h, x0 : x0 + w]
        on_breast = region > 0
        brightened = region + brightening.to(region.dtype) * (1 - region).clamp(min=0)
        out[0, y0 : y0 + h, x0 : x0 + w] = torch.where(on_breast, brightened, region)
        full = torch.zeros(image.shape[-2:], dtype=torch.bool)
        full[y0 : y0 + h, x0 : x0 + w] = mask & on_breast
        return out, with_lesion(target, full, self.label)
