"""Every backbone maps a 1-channel image to P2..P6 (strides 4..64, fpn_channels wide)."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import FrozenBatchNorm2d

from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.build import build_backbone

# Tiny timm variants: real architectures with a single block per stage.
TINY_TIMM = {
    "vit": ("vit_tiny_patch16_224", {"depth": 1}),
    "deit": ("deit_tiny_patch16_224", {"depth": 1}),
    "swin": (
        "swin_tiny_patch4_window7_224",
        {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2)},
    ),
}


def tiny_backbone_config(name: str, fpn_channels: int = 256):
    cfg = tiny_config(name)
    cfg.backbone.fpn_channels = fpn_channels
    if name in TINY_TIMM:
        cfg.backbone.timm_model, cfg.backbone.timm_kwargs = TINY_TIMM[name]
        cfg.backbone.img_size = 64
    return cfg


@pytest.mark.parametrize("name", ["resnet50", "resnet18", "resnet34", "vit", "deit", "swin"])
def test_backbone_yields_p2_to_p6_from_one_channel(name: str) -> None:
    backbone = build_backbone(tiny_backbone_config(name))
    # a non-square image whose side is not the img_size the transformer was built for
    feats = backbone(torch.rand(2, 1, 64, 96))
    assert list(feats) == ["p2", "p3", "p4", "p5", "p6"]
    for (level, f), stride in zip(feats.items(), (4, 8, 16, 32, 64)):
        assert f.shape == (2, 256, -(-64 // stride), -(-96 // stride)), level
        assert torch.isfinite(f).all()


@pytest.mark.parametrize("name", ["vit", "deit", "swin"])
def test_transformer_models_train_and_detect(name: str, one_mass_sample) -> None:
    model = build_model(tiny_backbone_config(name, fpn_channels=64))
    image, target = one_mass_sample
    losses = model.train()([image], [target])
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        (out,) = model.eval()([image])
    assert out["masks"].shape[1:] == (1, 64, 64)


def test_timm_patch_embedding_takes_one_channel() -> None:
    for name in ("vit", "deit"):
        backbone = build_backbone(tiny_backbone_config(name))
        assert backbone.body.patch_embed.proj.in_channels == 1
    swin = build_backbone(tiny_backbone_config("swin"))
    assert swin.body.patch_embed.proj.in_channels == 1


def test_frozen_bn_and_frozen_stages_with_pretrained_weights(tmp_path) -> None:
    cfg = tiny_config()
    cfg.backbone.norm, cfg.backbone.trainable_layers = "frozen_bn", 3
    body = build_backbone(cfg).body
    assert isinstance(body.bn1, FrozenBatchNorm2d)
    assert not body.conv1.weight.requires_grad and not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad and body.layer4[0].conv1.weight.requires_grad


def test_from_scratch_defaults_train_everything_with_batchnorm() -> None:
    body = build_backbone(tiny_config()).body  # no weights: torchvision's rule, bn + 5 layers
    assert isinstance(body.bn1, torch.nn.BatchNorm2d)
    assert all(p.requires_grad for p in body.parameters())


def test_group_norm_option() -> None:
    cfg = tiny_config()
    cfg.backbone.norm = "gn"
    assert isinstance(build_backbone(cfg).body.bn1, torch.nn.GroupNorm)
