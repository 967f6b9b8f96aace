"""One mammogram-like phantom: breast outline, skin line, fibroglandular texture, pectoral
muscle (MLO) and masses with exact masks.

Not a physical simulation: just enough anatomy that a detector cannot find masses by looking for
"anything bright" (glandular tissue and the pectoral muscle are bright too), and that the
preprocessing's breast finder, orientation and cropping meet what they meet in real images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from mammorcnn.data.synthetic.masses import PATHOLOGY, SHAPES, random_shape, render_mass
from mammorcnn.errors import ConfigError

_BACKGROUND, _FAT, _GLAND, _MUSCLE, _SKIN = 0.03, 0.30, 0.2, 0.62, 0.1


def _smooth_noise(rng: np.random.Generator, size: int, scale: float, aniso: float = 1.0):
    """Unit-variance noise with features ~``scale`` px: filtered at low resolution, then
    upsampled, because filtering a full-size field costs most of the time budget."""
    f = max(1, int(scale / 4))
    n = (size + f - 1) // f + 1
    low = ndimage.gaussian_filter(rng.standard_normal((n, n)), (scale / f / aniso, scale / f))
    up = ndimage.zoom(low, f, order=1)[:size, :size]
    return ((up - up.mean()) / (up.std() + 1e-6)).astype(np.float32)


def _breast(rng: np.random.Generator, s: int, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Breast mask and the distance (px, approximate) from the skin, chest wall on the left."""
    a = rng.uniform(0.6, 0.85) * s if view == "MLO" else rng.uniform(0.55, 0.8) * s
    b = rng.uniform(0.42, 0.49) * s if view == "MLO" else rng.uniform(0.36, 0.46) * s
    cy = s / 2 + rng.uniform(-0.04, 0.04) * s
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    u, v = xx / a, (yy - cy) / b
    r = np.sqrt(u**2 + v**2) + 1e-6
    theta = np.arctan2(v, u)
    wobble = 1.0 + sum(
        rng.uniform(0, 0.025) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)
    )
    grad = np.sqrt((u / a) ** 2 + (v / b) ** 2) / r  # |d r / d pixel|, turns r into pixels
    dist = (wobble - r) / grad
    return dist > 0, dist


def _pectoral(rng: np.random.Generator, s: int) -> np.ndarray:
    """Signed distance-like field (>0 inside) of the MLO pectoral triangle at the top left."""
    pw, ph = rng.uniform(0.22, 0.38) * s, rng.uniform(0.45, 0.7) * s
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    bulge = 0.05 * np.sin(np.pi * np.clip(yy / ph, 0, 1))  # the muscle edge is slightly convex
    return (1.0 + bulge - xx / pw - yy / ph) * min(pw, ph)


def make_phantom(
    rng: np.random.Generator,
    image_size: int = 512,
    *,
    view: str = "CC",
    n_masses: int = 1,
    shapes: Sequence[str] = SHAPES,
    size_range: tuple[float, float] = (0.05, 0.20),
    contrast_range: tuple[float, float] = (0.12, 0.25),
    density: float | None = None,
) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """Draw one phantom: (uint16 SxS image, one bool mask per mass, meta).

    ``size_range`` is the mass diameter as a fraction of the image side, ``contrast_range`` the
    mass brightening as a fraction of the full intensity range, ``density`` (0..1) the amount of
    glandular tissue (random if None). Masses lie fully inside the breast, outside the muscle,
    and do not touch each other; a mass that does not fit after a few tries is dropped (the
    returned masks and ``meta["masses"]`` always agree).
    """
    s = int(image_size)
    if view not in ("CC", "MLO") or s < 32 or not 0 < size_range[0] <= size_range[1] < 0.5:
        raise ConfigError(
            "phantom: need view CC/MLO, image_size >= 32, sizes in (0, 0.5): "
            f"got {view!r}, {s}, {size_range}"
        )
    if unknown := set(shapes) - set(SHAPES):
        raise ConfigError(f"phantom: unknown mass shapes {sorted(unknown)}; known: {SHAPES}")
    breast, dist = _breast(rng, s, view)
    muscle = _pectoral(rng, s) if view == "MLO" else np.full((s, s), -1e9, np.float32)
    density = float(rng.uniform(0.2, 1.0) if density is None else density)

    img = np.full((s, s), _BACKGROUND, np.float32)
    thick = np.sqrt(np.clip(dist / (0.06 * s), 0, 1))  # thinner compressed tissue at the edge
    gland_zone = np.exp(-(((np.arange(s)[None, :] / s - 0.3) / 0.35) ** 2))
    coarse = _smooth_noise(rng, s, 0.03 * s, aniso=2.0)  # ducts run towards the nipple
    fine = _smooth_noise(rng, s, 0.006 * s)
    gland = gland_zone / (1 + np.exp(-3 * (coarse + 1.2 * density - 0.6)))
    tissue = _FAT * (0.55 + 0.45 * thick) + _GLAND * density * gland + 0.015 * fine
    img = np.where(breast, tissue, img)
    img = np.where(breast & (dist < max(1.5, 0.006 * s)), img + _SKIN, img)
    in_muscle = muscle > 0
    img = np.where(in_muscle, _MUSCLE + 0.03 * coarse + 0.05 * np.clip(muscle / s, 0, 1), img)

    masks: list[np.ndarray] = []
    masses: list[dict[str, Any]] = []
    taken = np.zeros((s, s), bool)
    for _ in range(n_masses):
        shape = str(rng.choice(list(shapes)))
        radius = rng.uniform(*size_range) * s / 2
        contrast = float(rng.uniform(*contrast_range))
        m = random_shape(rng, shape, radius)
        margin = m.extent() + 2
        ok = (dist > margin) & (muscle < -margin) & ~ndimage.binary_dilation(taken, iterations=3)
        ok[:, : int(margin) + 1] = False  # not cut by the chest wall (the image's left edge)
        ys, xs = np.nonzero(ok)
        for _try in range(5 if len(ys) else 0):
            i = int(rng.integers(len(ys)))
            center = (xs[i] + rng.uniform(0, 1), ys[i] + rng.uniform(0, 1))
            win, mask, prof = render_mass(m, center, (s, s))
            if mask.any() and not (taken[win] & mask).any():
                break
        else:
            continue
        full = np.zeros((s, s), bool)
        full[win] = mask
        taken |= full
        img[win] += contrast * prof * (1 + 0.08 * fine[win])
        masks.append(full)
        masses.append(
            {
                "shape": shape,
                "pathology": PATHOLOGY[shape],
                "contrast": contrast,
                "diameter": float(2 * radius),
                "center": [float(center[0]), float(center[1])],
            }
        )
    img += rng.normal(0, 0.006, img.shape).astype(np.float32)
    out = (np.clip(img, 0, 1) * 65535).round().astype(np.uint16)
    meta = {"view": view, "laterality": "L", "density": density, "masses": masses}
    return out, masks, meta
