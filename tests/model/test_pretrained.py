"""Pretrained loading: ImageNet-style and COCO-style state dicts, skipped keys, bad files."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from mammorcnn.errors import CheckpointError
from mammorcnn.model import (
    ModelConfig,
    build_model,
    load_coco_maskrcnn,
    load_imagenet_backbone,
    read_state_dict,
    tiny_config,
)


@pytest.fixture(scope="module")
def coco_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    detector = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None
    )
    return detector.state_dict()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_imagenet_resnet_loads_with_conv1_summed(tmp_path, suffix: str) -> None:
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = build_model(tiny_config())
    report = load_imagenet_backbone(model, path)
    body = model.backbone.body
    torch.testing.assert_close(body.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(body.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    torch.testing.assert_close(body.bn1.running_var, state["bn1.running_var"])
    assert set(report.skipped) == {"backbone.body.fc.weight", "backbone.body.fc.bias"}
    assert "backbone.body.conv1.weight" in report.loaded and len(report.loaded) == len(state) - 2


def test_imagenet_weights_through_the_config(tmp_path) -> None:
    path = tmp_path / "r18.pth"
    state = torchvision.models.resnet18().state_dict()
    torch.save(state, path)
    cfg = tiny_config()
    cfg.backbone.weights = str(path)
    model = build_model(cfg)
    assert type(model.backbone.body.bn1).__name__ == "FrozenBatchNorm2d"  # pretrained default
    assert not model.backbone.body.layer1[0].conv1.weight.requires_grad
    torch.testing.assert_close(
        model.backbone.body.layer1[0].conv1.weight, state["layer1.0.conv1.weight"]
    )
    (report,) = model.load_reports
    assert "backbone.body.fc.weight" in report.skipped


def test_imagenet_enum_path_uses_torchvision_weights(monkeypatch) -> None:
    state = torchvision.models.resnet18().state_dict()
    calls = []

    def fake_get_state_dict(self, *args, **kwargs):
        calls.append(self)
        return state

    monkeypatch.setattr(torchvision.models.ResNet18_Weights, "get_state_dict", fake_get_state_dict)
    model = build_model(tiny_config())
    report = load_imagenet_backbone(model, "imagenet")
    assert calls == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1]
    torch.testing.assert_close(
        model.backbone.body.conv1.weight, state["conv1.weight"].sum(1, keepdim=True)
    )
    assert len(report.skipped) == 2


def test_coco_maskrcnn_loads_every_fitting_tensor(tmp_path, coco_state) -> None:
    path = tmp_path / "coco.pth"
    torch.save(coco_state, path)
    model = build_model(ModelConfig())
    report = load_coco_maskrcnn(model, path)
    own = model.state_dict()
    torch.testing.assert_close(
        own["backbone.body.conv1.weight"],
        coco_state["backbone.body.conv1.weight"].sum(1, keepdim=True),
    )
    for key in (
        "backbone.fpn.layer_blocks.2.0.weight",
        "rpn.head.conv.0.0.weight",
        "roi_heads.mask_head.3.0.weight",
    ):
        torch.testing.assert_close(own[key], coco_state[key])
        assert key in report.loaded
    expected_skips = {
        "rpn.head.cls_logits.weight",  # 3 sigmoid logits vs 30 softmax logits
        "rpn.head.bbox_pred.weight",  # 3 anchors vs 15
        "roi_heads.box_head.fc6.weight",  # 1024 vs 4096 units
        "roi_heads.box_head.fc7.weight",  # no second FC layer
        "roi_heads.box_predictor.cls_score.weight",  # 91 vs C + 1 classes
        "roi_heads.mask_predictor.conv5_mask.weight",  # no deconvolution
        "roi_heads.mask_predictor.mask_fcn_logits.weight",  # 91 vs C masks
    }
    assert expected_skips <= set(report.skipped)
    assert len(report.loaded) + len(report.skipped) == len(coco_state)
    assert "shape" in report.skipped["roi_heads.box_head.fc6.weight"]


def test_coco_legacy_key_names_are_renamed(tmp_path, coco_state) -> None:
    legacy = {}
    for key, value in coco_state.items():
        if key.startswith("roi_heads.mask_head."):
            i, _, kind = key.removeprefix("roi_heads.mask_head.").split(".")
            key = f"roi_heads.mask_head.mask_fcn{int(i) + 1}.{kind}"
        elif key.startswith("rpn.head.conv.0.0."):
            key = key.replace("conv.0.0.", "conv.")
        legacy[key] = value
    path = tmp_path / "legacy.pth"
    torch.save({"model": legacy}, path)  # also wrapped, as training scripts save it
    model = build_model(ModelConfig())
    report = load_coco_maskrcnn(model, path)
    assert "roi_heads.mask_head.0.0.weight" in report.loaded
    assert "rpn.head.conv.0.0.weight" in report.loaded


def test_coco_checkpoint_through_the_config(tmp_path, coco_state) -> None:
    path = tmp_path / "coco.safetensors"
    save_file({k: v.contiguous() for k, v in coco_state.items()}, str(path))
    cfg = ModelConfig()
    cfg.init_checkpoint = str(path)
    model = build_model(cfg)
    torch.testing.assert_close(
        model.state_dict()["backbone.fpn.inner_blocks.0.0.weight"],
        coco_state["backbone.fpn.inner_blocks.0.0.weight"],
    )
    assert "roi_heads.box_head.fc7.weight" in model.load_reports[0].skipped


def test_transformer_local_checkpoint_sums_rgb_patch_embedding(tmp_path) -> None:
    rgb = timm.create_model("deit_tiny_patch16_224", pretrained=False, depth=1, img_size=64)
    path = tmp_path / "deit.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    cfg = tiny_config("deit")
    cfg.backbone.timm_model, cfg.backbone.timm_kwargs, cfg.backbone.img_size = (
        "deit_tiny_patch16_224",
        {"depth": 1},
        64,
    )
    cfg.backbone.weights = str(path)
    model = build_model(cfg)
    body = model.backbone.body
    torch.testing.assert_close(
        body.patch_embed.proj.weight, rgb.patch_embed.proj.weight.sum(1, keepdim=True)
    )
    torch.testing.assert_close(body.blocks[0].attn.qkv.weight, rgb.blocks[0].attn.qkv.weight)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a checkpoint at all", "cannot read"),
        (None, "not found"),
    ],
)
def test_bad_files_raise_checkpoint_error_naming_the_file(tmp_path, content, problem) -> None:
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=problem) as err:
        read_state_dict(path)
    assert str(path) in str(err.value)


def test_pickled_objects_are_refused(tmp_path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "obj": _Unsafe()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        read_state_dict(path)


def test_truncated_safetensors_and_non_tensor_dicts(tmp_path) -> None:
    good = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(10)}, str(good))
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match="t.safetensors"):
        read_state_dict(truncated)
    listy = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listy)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state_dict(listy)


def test_bad_transformer_checkpoint_raises_checkpoint_error(tmp_path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00" * 16)
    cfg = tiny_config("deit")
    cfg.backbone.timm_model, cfg.backbone.timm_kwargs, cfg.backbone.img_size = (
        "deit_tiny_patch16_224",
        {"depth": 1},
        64,
    )
    cfg.backbone.weights = str(path)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        build_model(cfg)


class _Unsafe:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def test_own_checkpoint_initialises_every_tensor_of_the_same_model(tmp_path) -> None:
    # Two-stage training (e.g. synthetic phantoms first, docs/training.md): a mammorcnn
    # weights file loads completely into a model of the same config, and an explicit
    # norm/trainable_layers keeps the from-scratch setting instead of the pretrained default.
    from mammorcnn.engine.checkpoint import save_weights

    cfg = tiny_config()
    cfg.backbone.norm, cfg.backbone.trainable_layers = "gn", 5
    torch.manual_seed(3)
    first = build_model(cfg)
    path = tmp_path / "stage1.safetensors"
    save_weights(path, first.state_dict(), {"step": 7})
    cfg.init_checkpoint = str(path)
    torch.manual_seed(4)
    second = build_model(cfg)
    report = second.load_reports[0]
    assert report.skipped == {} and report.missing == []
    assert len(report.loaded) == len(first.state_dict())
    for key, value in first.state_dict().items():
        torch.testing.assert_close(second.state_dict()[key], value, msg=key)
    assert second.backbone.body.conv1.weight.requires_grad
    assert type(second.backbone.body.bn1).__name__ == "GroupNorm"
