"""GroupNorm in the FPN and the mask head (model.backbone.fpn_norm, model.mask_head.norm).

He, Girshick and Dollar (2019) trained Mask R-CNN from scratch with GroupNorm in the backbone,
the FPN and the heads. These tests check that each option puts a 32-group GroupNorm after every
conv it names, that the norm really normalises (a fresh GroupNorm's output has zero mean and
unit variance in each group), and that leaving them unset keeps torchvision's layers exactly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mammorcnn.errors import ConfigError
from mammorcnn.model import build_model, config, tiny_config
from mammorcnn.model.build import build_backbone


def _group_stats(x: torch.Tensor, groups: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance of each sample's channel groups, as GroupNorm computes them."""
    g = x.reshape(x.shape[0], groups, -1)
    return g.mean(-1), g.var(-1, unbiased=False)


def test_fpn_norm_puts_groupnorm_after_every_fpn_conv() -> None:
    cfg = tiny_config()
    cfg.backbone.fpn_norm = "gn"
    fpn = build_backbone(cfg).fpn
    blocks = [*fpn.inner_blocks, *fpn.layer_blocks]
    assert len(blocks) == 8  # a 1x1 lateral and a 3x3 output conv for each of C2..C5
    for block in blocks:
        conv, norm = block[0], block[1]
        assert isinstance(conv, nn.Conv2d) and conv.bias is None  # the norm's shift replaces it
        assert isinstance(norm, nn.GroupNorm)
        assert (norm.num_groups, norm.num_channels) == (32, cfg.backbone.fpn_channels)


def test_fpn_norm_normalises_p2_to_p5() -> None:
    """A fresh GroupNorm (weight 1, bias 0) is the last op of P2..P5: each group of each image
    has mean 0 and variance 1 (up to its eps); P6, a subsample of P5, is not renormalised."""
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.backbone.fpn_norm = "gn"
    feats = build_backbone(cfg)(torch.rand(2, 1, 128, 128) * 3 + 1)
    for level in ("p2", "p3", "p4", "p5"):
        mean, var = _group_stats(feats[level])
        assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4), level
        assert torch.allclose(var, torch.ones_like(var), atol=2e-3), level
    assert torch.equal(feats["p6"], nn.functional.max_pool2d(feats["p5"], 1, 2))


def test_without_fpn_norm_the_outputs_are_not_normalised() -> None:
    """The default (no norm) keeps torchvision's plain convs with a bias, so the same check fails:
    the normalisation test above can tell the two apart."""
    torch.manual_seed(0)
    backbone = build_backbone(tiny_config())
    assert not any(isinstance(m, nn.GroupNorm) for m in backbone.fpn.modules())
    assert all(block[0].bias is not None for block in backbone.fpn.layer_blocks)
    _, var = _group_stats(backbone(torch.rand(2, 1, 128, 128) * 3 + 1)["p2"])
    assert not torch.allclose(var, torch.ones_like(var), atol=0.1)


def test_mask_head_norm_normalises_each_conv_before_its_relu() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.mask_head.norm = "gn"
    head = build_model(cfg).roi_heads.mask_head
    norms = [m for m in head.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == cfg.mask_head.conv_layers
    assert all(n.num_channels == cfg.mask_head.conv_channels for n in norms)
    outputs: list[torch.Tensor] = []
    for n in norms:
        # cloned: the ReLU after it works in place
        n.register_forward_hook(lambda _m, _i, out: outputs.append(out.clone()))
    result = head(torch.randn(5, cfg.backbone.fpn_channels, 14, 14) * 4 + 2)
    assert len(outputs) == len(norms)
    for out in outputs:
        mean, var = _group_stats(out)
        assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4)
        assert torch.allclose(var, torch.ones_like(var), atol=2e-3)
    assert torch.equal(result, torch.relu(outputs[-1]))  # ReLU follows the last norm


def test_model_with_both_norms_trains_and_round_trips_its_weights(one_mass_sample) -> None:
    cfg = tiny_config()
    cfg.backbone.fpn_norm, cfg.mask_head.norm = "gn", "gn"
    model = build_model(cfg)
    image, target = one_mass_sample
    losses = model.train()([image], [target])
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    twin = build_model(cfg)
    twin.load_state_dict(model.state_dict())  # strict: the same layers under the same names
    plain_keys = set(build_model(tiny_config()).state_dict())
    assert set(model.state_dict()) != plain_keys


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: config.BackboneConfig(fpn_channels=48, fpn_norm="gn"), "divisible by 32, got 48"),
        (lambda: config.BackboneConfig(name="swin", fpn_norm="gn"), "only for ResNet"),
        (lambda: config.BackboneConfig(fpn_norm="bn"), r"fpn_norm: unknown 'bn'"),  # type: ignore[arg-type]
        (lambda: config.MaskHeadConfig(conv_channels=40, norm="gn"), "divisible by 32, got 40"),
    ],
)
def test_impossible_head_norms_are_refused(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()
