"""ModelConfig: defaults are the specification's numbers, every field is commented, bad values
raise ConfigError."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from mammorcnn.errors import ConfigError
from mammorcnn.model import ModelConfig, build_model, config, tiny_config


def test_defaults_are_the_specification() -> None:
    cfg = ModelConfig()
    assert cfg.backbone.name == "resnet50"
    assert cfg.backbone.fpn_channels == 256
    assert cfg.anchors.sizes == (4, 7, 8, 10, 12)
    assert cfg.anchors.aspect_ratios == (1.5, 2.5, 3.6)
    assert (cfg.rpn.fg_iou_thresh, cfg.rpn.bg_iou_thresh) == (0.7, 0.3)
    assert (cfg.rpn.batch_size_per_image, cfg.rpn.positive_fraction) == (256, 0.5)
    assert cfg.rpn.nms_thresh == 0.7
    assert cfg.box_head.roi_output_size == 7 and cfg.mask_head.roi_output_size == 14
    assert cfg.box_head.sampling_ratio == 2
    assert cfg.box_head.fc_dim == 4096
    assert cfg.mask_head.conv_layers == 4 and cfg.mask_head.conv_channels == 256
    assert cfg.num_classes == 1


def test_tiny_keeps_structure_and_shrinks_sizes() -> None:
    tiny, full = tiny_config(), ModelConfig()
    assert tiny.anchors == full.anchors
    assert tiny.box_head.roi_output_size == 7 and tiny.mask_head.roi_output_size == 14
    assert tiny.box_head.batch_size_per_image == 64
    assert tiny.rpn.post_nms_top_n_train == 300
    assert tiny.backbone.name == "resnet18"
    assert ModelConfig.tiny() == tiny


def test_every_field_has_a_comment() -> None:
    classes = [c for c in vars(config).values() if dataclasses.is_dataclass(c)]
    assert len(classes) == 6
    for cls in classes:
        source = [s.strip() for s in inspect.getsource(cls).splitlines()]
        for f in dataclasses.fields(cls):
            line = next(i for i, s in enumerate(source) if s.startswith(f"{f.name}:"))
            assert source[line - 1].startswith("#"), f"{cls.__name__}.{f.name} has no comment"


@pytest.mark.parametrize(
    "change",
    [
        lambda c: setattr(c.backbone, "name", "vgg16"),
        lambda c: setattr(c.backbone, "norm", "layernorm"),
        lambda c: setattr(c.backbone, "trainable_layers", 6),
        lambda c: setattr(c, "num_classes", 0),
        lambda c: setattr(c.rpn, "bg_iou_thresh", 0.8),
        lambda c: setattr(c, "size_divisible", 16),
        lambda c: setattr(c.anchors, "sizes", ()),
        lambda c: setattr(c.backbone, "fpn_norm", "bn"),
        lambda c: setattr(c.mask_head, "norm", "layernorm"),
    ],
)
def test_impossible_values_raise_config_error(change) -> None:
    cfg = tiny_config()
    change(cfg)
    with pytest.raises(ConfigError):
        build_model(cfg)


def test_build_model_rejects_non_config() -> None:
    with pytest.raises(ConfigError):
        build_model({"num_classes": 1})


def test_model_keeps_a_copy_of_its_config() -> None:
    cfg = tiny_config()
    model = build_model(cfg)
    assert model.config == cfg and model.config is not cfg


def test_every_section_checks_itself_when_built() -> None:
    """One validation style: each section's __post_init__ names the field it refuses."""
    with pytest.raises(ConfigError, match=r"model\.backbone\.name: unknown 'vgg16'"):
        config.BackboneConfig(name="vgg16")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model\.rpn\.bg_iou_thresh"):
        config.RPNConfig(bg_iou_thresh=0.8)
    with pytest.raises(ConfigError, match=r"model\.mask_head\.conv_layers"):
        config.MaskHeadConfig(conv_layers=-1)
    with pytest.raises(ConfigError, match=r"model\.num_classes"):
        ModelConfig(num_classes=0)
    unresolved = ModelConfig(num_classes=None)  # valid in a config: `train` fills it in
    with pytest.raises(ConfigError, match=r"model\.num_classes is null .* `train` fills it in"):
        build_model(unresolved)
    assert not any(callable(getattr(c, "validate", None)) for c in vars(config).values())


def test_closed_choices_are_literal_types() -> None:
    import typing

    hints = typing.get_type_hints(config.BackboneConfig)
    assert set(typing.get_args(hints["name"])) == set(config.BACKBONE_NAMES) == {
        "resnet18", "resnet34", "resnet50", "resnet101", "vit", "deit", "swin"}  # fmt: skip
    norm = [typing.get_args(a) for a in typing.get_args(hints["norm"]) if a is not type(None)]
    assert norm == [("frozen_bn", "bn", "gn")]


def test_checked_copy_is_a_deep_copy() -> None:
    cfg = tiny_config()
    copied = config.checked_copy(cfg)
    assert copied == cfg and copied.backbone is not cfg.backbone
    assert copied.backbone.timm_kwargs is not cfg.backbone.timm_kwargs
