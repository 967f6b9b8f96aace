"""Mass shapes for the phantoms: a star-shaped outline r(theta) and a dome-shaped density.

Masses are star-shaped around their centre, so one radial function describes the outline, the
exact mask (pixels whose centre lies within r(theta)) and the density profile at once: the mask
is exactly the set of pixels the mass brightens, with no threshold to disagree about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mammorcnn.errors import ConfigError

SHAPES = ("round", "oval", "lobulated", "irregular", "spiculated")
#: Shape -> pathology, as BI-RADS reads margins: spiculated and irregular masses are the
#: suspicious ones. Makes the phantoms' "pathology" class mapping learnable from the shape.
PATHOLOGY = {
    "round": "benign",
    "oval": "benign",
    "lobulated": "benign",
    "irregular": "malignant",
    "spiculated": "malignant",
}
_EDGE = 0.55  # share of the contrast at the margin: a visible, exactly located edge


@dataclass
class MassShape:
    """Outline parameters of one mass; ``radius`` in pixels, angles in radians."""

    shape: str
    radius: float
    harmonics: list[tuple[int, float, float]] = field(default_factory=list)  # (k, amp, phase)
    spicules: list[tuple[float, float, float]] = field(default_factory=list)  # (angle, len, width)
    axis_ratio: float = 1.0
    angle: float = 0.0

    def outline(self, theta: np.ndarray) -> np.ndarray:
        """Boundary radius in pixels at each polar angle."""
        t = theta - self.angle
        q = self.axis_ratio
        r = self.radius * q / np.sqrt((q * np.cos(t)) ** 2 + np.sin(t) ** 2)
        for k, amp, phase in self.harmonics:
            r = r * (1.0 + amp * np.cos(k * t + phase))
        for ang, length, width in self.spicules:
            d = np.abs((theta - ang + np.pi) % (2 * np.pi) - np.pi)
            r = r + self.radius * length * np.clip(1.0 - d / width, 0.0, None)
        return r

    def extent(self) -> float:
        """An upper bound of the outline radius (for placement and the drawing window)."""
        amp = np.prod([1.0 + abs(a) for _, a, _ in self.harmonics]) if self.harmonics else 1.0
        spike = max((length for _, length, _ in self.spicules), default=0.0)
        return float(self.radius * amp + self.radius * spike + 1.0)


def random_shape(rng: np.random.Generator, shape: str, radius: float) -> MassShape:
    """Draw the outline parameters of one mass of the named BI-RADS-like shape."""
    m = MassShape(shape=shape, radius=radius, angle=float(rng.uniform(0, 2 * np.pi)))
    if shape == "oval":
        m.axis_ratio = float(rng.uniform(0.5, 0.75))
        m.radius = radius / np.sqrt(m.axis_ratio)  # same area as the round mass of `radius`
    elif shape == "lobulated":
        m.harmonics = [(int(rng.integers(3, 6)), float(rng.uniform(0.12, 0.2)), 0.0)]
    elif shape == "irregular":
        m.harmonics = [
            (k, float(rng.uniform(0.04, 0.1)), float(rng.uniform(0, 2 * np.pi)))
            for k in range(2, 7)
        ]
    elif shape == "spiculated":
        m.radius = radius * 0.75  # the spicules make up the rest of the lesion's size
        m.harmonics = [(k, 0.05, float(rng.uniform(0, 2 * np.pi))) for k in (2, 3)]
        n = int(rng.integers(7, 13))
        base = np.sort(rng.uniform(0, 2 * np.pi, n))
        m.spicules = [
            (float(a), float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.08, 0.14))) for a in base
        ]
    elif shape != "round":
        raise ConfigError(f"unknown mass shape {shape!r}; choose from {SHAPES}")
    return m


def render_mass(
    m: MassShape, center: tuple[float, float], size: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Rasterise a mass: (window, mask, density in [_EDGE, 1] inside the mask, 0 outside).

    ``center`` is (x, y) in continuous pixel coordinates (pixel (i, j) covers [j, j+1) x
    [i, i+1)), so the COCO box of the mask is exact to the pixel.
    """
    cx, cy = center
    e = m.extent()
    r0, r1 = max(int(cy - e), 0), min(int(cy + e) + 2, size[0])
    c0, c1 = max(int(cx - e), 0), min(int(cx + e) + 2, size[1])
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    rho = np.hypot(dx, dy) / m.outline(np.arctan2(dy, dx))
    mask = rho <= 1.0
    density = np.where(mask, _EDGE + (1 - _EDGE) * np.sqrt(np.clip(1 - rho**2, 0, 1)), 0.0)
    return (slice(r0, r1), slice(c0, c1)), mask, density.astype(np.float32)
