"""RoI Align equals the specification's sampling rule (spec 4), computed here in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.roi_align import PyramidRoIAlign

NAMES, STRIDES = ("p2", "p3", "p4", "p5"), (4, 8, 16, 32)


def bilinear(f: np.ndarray, y: float, x: float) -> np.ndarray:
    """P from the four neighbours Q11, Q21, Q12, Q22 at integer grid points (spec 4)."""
    y1, x1 = int(np.floor(y)), int(np.floor(x))
    y2, x2 = y1 + 1, x1 + 1
    return (y2 - y) * ((x2 - x) * f[:, y1, x1] + (x - x1) * f[:, y1, x2]) + (y - y1) * (
        (x2 - x) * f[:, y2, x1] + (x - x1) * f[:, y2, x2]
    )


def spec_roi_align(f: np.ndarray, box: np.ndarray, stride: int, out: int) -> np.ndarray:
    """Bins of the box without quantisation, 4 samples per bin at 0.25 / 0.75, averaged.

    Feature cell (i, j) is centred on image pixel ((j + 0.5) * stride, (i + 0.5) * stride),
    so image coordinate u is feature grid coordinate u / stride - 0.5.
    """
    x0, y0, x1, y1 = box / stride - 0.5
    bin_w, bin_h = (x1 - x0) / out, (y1 - y0) / out
    result = np.zeros((f.shape[0], out, out))
    for i in range(out):
        for j in range(out):
            samples = [
                bilinear(
                    f,
                    y0 + i * bin_h + bin_h * (0.25 + 0.5 * ny),
                    x0 + j * bin_w + bin_w * (0.25 + 0.5 * nx),
                )
                for ny in (0, 1)
                for nx in (0, 1)
            ]
            result[:, i, j] = np.mean(samples, axis=0)
    return result


@pytest.mark.parametrize("out", [7, 14])
def test_roi_align_matches_the_spec_sampling_rule(out: int) -> None:
    rng = np.random.default_rng(0)
    p2 = rng.standard_normal((3, 12, 12))
    feats = {
        n: torch.zeros(1, 3, 48 // s, 48 // s, dtype=torch.float64) for n, s in zip(NAMES, STRIDES)
    }
    feats["p2"] = torch.from_numpy(p2)[None]
    box = np.array([9.3, 6.7, 30.1, 35.9])  # non-integer corners, maps to P2 (FPN rule)
    pool = PyramidRoIAlign(NAMES, STRIDES, out, sampling_ratio=2)
    got = pool(feats, [torch.from_numpy(box)[None]], [(48, 48)])[0].numpy()
    np.testing.assert_allclose(got, spec_roi_align(p2, box, 4, out), rtol=1e-10, atol=1e-12)


def test_model_pools_with_the_spec_sizes() -> None:
    heads = build_model(tiny_config()).roi_heads
    for pool, size in ((heads.box_roi_pool, 7), (heads.mask_roi_pool, 14)):
        assert pool.output_size == (size, size)
        assert pool.sampling_ratio == 2
        assert pool.featmap_names == NAMES  # P6 feeds only the RPN


@pytest.mark.parametrize(
    ("side", "level"),
    [(20.0, 2), (56.0, 2), (111.0, 2), (112.0, 3), (224.0, 4), (447.0, 4), (448.0, 5), (900.0, 5)],
)
def test_rois_map_to_levels_by_the_fpn_rule(side: float, level: int) -> None:
    # k = floor(4 + log2(sqrt(wh) / 224)) clamped to [2, 5]; constant maps reveal the level.
    feats = {
        n: torch.full((1, 1, 1024 // s, 1024 // s), float(k + 2))
        for k, (n, s) in enumerate(zip(NAMES, STRIDES))
    }
    pool = PyramidRoIAlign(NAMES, STRIDES, 7, sampling_ratio=2)
    box = torch.tensor([[50.0, 60.0, 50.0 + side, 60.0 + side]])
    assert pool(feats, [box], [(1024, 1024)]).unique().tolist() == [float(level)]
