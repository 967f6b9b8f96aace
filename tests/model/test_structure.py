"""The specification's structure on the default model: channels, layer sizes, output shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mammorcnn.model import ModelConfig, build_model


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model().eval()


def test_input_stem_takes_one_channel(model: nn.Module) -> None:
    assert model.backbone.body.conv1.in_channels == 1
    assert model.backbone.body.conv1.weight.shape == (64, 1, 7, 7)


def test_backbone_is_resnet50_fpn_with_p2_to_p6(model: nn.Module) -> None:
    assert len(model.backbone.body.layer3) == 6  # ResNet-50: 3-4-6-3 bottlenecks
    feats = model.backbone(torch.zeros(1, 1, 128, 128))
    assert list(feats) == ["p2", "p3", "p4", "p5", "p6"]
    assert [f.shape[1] for f in feats.values()] == [256] * 5
    assert [f.shape[-1] for f in feats.values()] == [32, 16, 8, 4, 2]


def test_rpn_head_convs(model: nn.Module) -> None:
    head = model.rpn.head
    conv = head.conv[0][0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (256, 256, (3, 3))
    assert isinstance(head.conv[0][1], nn.ReLU)
    assert head.cls_logits.out_channels == 30 and head.cls_logits.kernel_size == (1, 1)
    assert head.bbox_pred.out_channels == 60 and head.bbox_pred.kernel_size == (1, 1)
    assert model.rpn.anchor_generator.num_anchors_per_location() == [15] * 5


def test_detection_head_is_one_fc_4096_on_7x7x256(model: nn.Module) -> None:
    heads = model.roi_heads
    assert heads.box_roi_pool.output_size == (7, 7) and heads.box_roi_pool.sampling_ratio == 2
    assert heads.mask_roi_pool.output_size == (14, 14)
    fcs = [m for m in heads.box_head.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(7 * 7 * 256, 4096)]
    assert heads.box_predictor.cls_score.out_features == 2  # C + 1
    assert heads.box_predictor.bbox_pred.out_features == 4  # 4C


@pytest.mark.parametrize("num_classes", [1, 3])
def test_mask_logits_are_n_c_14_14(num_classes: int) -> None:
    cfg = ModelConfig.tiny()
    cfg.num_classes = num_classes
    heads = build_model(cfg).roi_heads
    convs = [m for m in heads.mask_head.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 4
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in heads.modules())
    feats = {f"p{k}": torch.rand(1, 64, 128 >> k, 128 >> k) for k in range(2, 7)}
    boxes = [torch.tensor([[10.0, 10, 50, 60], [0, 0, 128, 128], [3, 4, 9, 12]])]
    logits = heads._mask_logits(feats, boxes, [(128, 128)])
    assert logits.shape == (3, num_classes, 14, 14)


def test_default_model_runs_on_a_one_channel_image(model: nn.Module) -> None:
    with torch.no_grad():
        (out,) = model([torch.rand(1, 96, 64)])
    assert set(out) == {"boxes", "labels", "scores", "masks"}
    assert out["masks"].shape[1:] == (1, 96, 64)


def test_three_channel_input_is_rejected(model: nn.Module) -> None:
    with pytest.raises(ValueError, match="1xHxW"):
        model([torch.rand(3, 64, 64)])
