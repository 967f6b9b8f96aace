"""RoI Align equals the specification's sampling rule (spec 4), computed here in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammorcnn.errors import ConfigError
from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.context_roi import ContextRoIAlign
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


def test_context_pool_reads_the_box_then_the_box_twice_as_large() -> None:
    rng = np.random.default_rng(1)
    p2 = rng.standard_normal((3, 32, 32))
    feats = {
        n: torch.zeros(1, 3, 128 // s, 128 // s, dtype=torch.float64)
        for n, s in zip(NAMES, STRIDES)
    }
    feats["p2"] = torch.from_numpy(p2)[None]
    box = np.array([40.3, 36.7, 60.1, 70.9])  # 19.8 x 34.2, centre (50.2, 53.8): P2
    # twice as wide and high about the same centre, by hand: 39.6 x 68.4, still P2
    wide = np.array([30.4, 19.6, 70.0, 88.0])
    pool = ContextRoIAlign(PyramidRoIAlign(NAMES, STRIDES, 7, sampling_ratio=2), 2.0)
    got = pool(feats, [torch.from_numpy(box)[None]], [(128, 128)])[0].numpy()
    assert got.shape == (6, 7, 7)
    np.testing.assert_allclose(got[:3], spec_roi_align(p2, box, 4, 7), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[3:], spec_roi_align(p2, wide, 4, 7), rtol=1e-10, atol=1e-12)


def test_the_context_box_goes_to_the_level_of_its_own_size() -> None:
    # a 100-px box is P2 (k = floor(4 + log2(100 / 224)) = 2); at 3x, 300 px is P4
    feats = {
        n: torch.full((1, 1, 1024 // s, 1024 // s), float(k + 2))
        for k, (n, s) in enumerate(zip(NAMES, STRIDES))
    }
    pool = ContextRoIAlign(PyramidRoIAlign(NAMES, STRIDES, 7, sampling_ratio=2), 3.0)
    got = pool(feats, [torch.tensor([[400.0, 400.0, 500.0, 500.0]])], [(1024, 1024)])[0]
    assert got[0].unique().tolist() == [2.0] and got[1].unique().tolist() == [4.0]


def test_context_in_the_model_doubles_the_fc_input_and_trains() -> None:
    config = tiny_config()
    assert config.box_head.context_scale is None  # the specification: the box alone
    plain = build_model(config).roi_heads
    assert isinstance(plain.box_roi_pool, PyramidRoIAlign)
    config.box_head.context_scale = 2.0
    model = build_model(config)
    heads = model.roi_heads
    assert isinstance(heads.box_roi_pool, ContextRoIAlign) and heads.box_roi_pool.scale == 2.0
    assert heads.box_head.fc6.in_features == 2 * plain.box_head.fc6.in_features
    assert isinstance(heads.mask_roi_pool, PyramidRoIAlign)  # the mask head: the box alone
    masks = torch.zeros(1, 96, 96, dtype=torch.uint8)
    masks[0, 30:50, 40:60] = 1
    target = {"boxes": torch.tensor([[40.0, 30.0, 60.0, 50.0]]), "labels": torch.tensor([1])}
    losses = model.train()([torch.rand(1, 96, 96)], [{**target, "masks": masks}])
    assert all(bool(torch.isfinite(v)) for v in losses.values())
    sum(losses.values()).backward()
    assert heads.box_head.fc6.weight.grad[:, heads.box_head.fc6.in_features // 2 :].abs().sum() > 0
    with torch.no_grad():
        out = model.eval()([torch.rand(1, 96, 96)])[0]
    assert set(out) == {"boxes", "labels", "scores", "masks"}


@pytest.mark.parametrize("scale", [1.0, 0.5, 5.0])
def test_a_context_scale_outside_1_to_4_is_refused(scale: float) -> None:
    config = tiny_config()
    config.box_head.context_scale = scale
    with pytest.raises(ConfigError, match="context_scale"):
        build_model(config)
