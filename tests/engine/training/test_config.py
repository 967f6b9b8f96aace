"""Strict config loading: defaults, YAML, dotted overrides, and errors naming key and file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mammorcnn.config import (
    Config,
    _build,
    _Where,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
    save_config,
)
from mammorcnn.errors import ConfigError
from mammorcnn.train_config import TrainConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    assert load_config(None, []) == Config()


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.01\n  epochs: 3\n  lr_steps: [1, 2]\n")
    config = load_config(path, ["train.epochs=5", "train.optimizer=adamw", "train.lr=1e-3"])
    assert config.train.lr == 1e-3  # override wins; "1e-3" (a YAML 1.1 string) is a float
    assert config.train.epochs == 5
    assert config.train.lr_steps == [1, 2]
    assert config.train.optimizer == "adamw"
    assert config.train.betas == (0.9, 0.999)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lrr: 0.01\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: train\.lrr: unknown key \(did you mean 'lr'"):
        load_config(path, [])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(write(tmp_path, "trian: {}\n"), [])


def test_unknown_override_names_the_override() -> None:
    with pytest.raises(ConfigError, match=r"override 'train\.foo=1': train\.foo: unknown key"):
        load_config(None, ["train.foo=1"])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("train:\n  epochs: 2.5\n", r"train\.epochs: expected int"),
        ("train:\n  epochs: true\n", r"train\.epochs: expected int"),  # bool is not an int
        ("train:\n  lr: fast\n", r"train\.lr: expected float"),
        ("train:\n  optimizer: adam\n", r"train\.optimizer: must be one of 'sgd', 'adamw'"),
        ("train:\n  lr_steps: [1, x]\n", r"train\.lr_steps\[1\]: expected int"),
        ("train:\n  betas: [0.9]\n", r"train\.betas: expected 2 items"),
        ("train:\n  grad_clip_norm: [1]\n", r"train\.grad_clip_norm: expected float \| None"),
        ("train: 3\n", r"train: expected a mapping"),
        ("train:\n  lr: -1\n", r"c\.yaml: train\.lr must be > 0"),
        ("model:\n  num_classes: 0\n", r"c\.yaml: model\.num_classes: impossible"),
        ("model:\n  anchors:\n    sizes: 4\n", r"model\.anchors\.sizes: expected tuple"),
        ("- 1\n", r"expected a mapping at the top"),
        ("train: [\n", r"not valid YAML"),
    ],
)
def test_wrong_types_and_values(tmp_path: Path, text: str, pattern: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path, [])
    assert str(path) in str(info.value)


def test_optional_accepts_null_and_value(tmp_path: Path) -> None:
    assert load_config(None, ["train.grad_clip_norm=null"]).train.grad_clip_norm is None
    assert load_config(None, ["train.grad_clip_norm=2"]).train.grad_clip_norm == 2.0


def test_missing_file_and_bad_override_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml", [])
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        load_config(None, ["train.lr"])
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        load_config(None, ["train..lr=1"])


def test_parse_overrides_nests_and_parses_yaml() -> None:
    nested, texts = parse_overrides(["a.b=[1, 2]", "a.c=x:y", "d=null"])
    assert nested == {"a": {"b": [1, 2], "c": "x:y"}, "d": None}
    assert texts["a.b"] == "a.b=[1, 2]"


def test_round_trip_through_save(tmp_path: Path) -> None:
    config = load_config(None, ["train.epochs=7", "train.betas=[0.8, 0.9]"])
    save_config(config, tmp_path / "run" / "config.yaml")
    assert list((tmp_path / "run").iterdir()) == [tmp_path / "run" / "config.yaml"]  # no temp
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["epochs"] == 7
    assert load_config(tmp_path / "run" / "config.yaml", []) == config


# The loader is generic over any dataclass tree (the model and data teams' configs).
@dataclasses.dataclass
class _Inner:
    sizes: tuple[int, ...] = (32, 64)
    pairs: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    kind: Literal["a", "b"] = "a"
    table: dict[str, int] = dataclasses.field(default_factory=dict)
    path: Path | None = None


@dataclasses.dataclass
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    required: int = 0


def test_generic_nested_dataclasses() -> None:
    where = _Where(Path("x.yaml"), {})
    data = {
        "inner": {"sizes": [1, 2, 3], "pairs": [[1, 2]], "table": {"k": 1}, "path": "a/b"},
        "required": 4,
    }
    built = _build(_Outer, data, "", where)
    assert built.inner.sizes == (1, 2, 3)
    assert built.inner.pairs == [(1, 2.0)]
    assert built.inner.path == Path("a/b")
    assert config_to_dict(built)["inner"]["sizes"] == [1, 2, 3]
    with pytest.raises(ConfigError, match=r"x\.yaml: inner\.table\.k: expected int"):
        _build(_Outer, {"inner": {"table": {"k": "v"}}}, "", where)
    with pytest.raises(ConfigError, match=r"inner\.kind: must be one of"):
        _build(_Outer, {"inner": {"kind": "c"}}, "", where)


def test_train_config_rejects_bad_device() -> None:
    with pytest.raises(ConfigError, match="train.device"):
        TrainConfig(device="gpu")
    assert TrainConfig(device="cuda:1").device == "cuda:1"


_KEYS = ["train", "model", "data", "lr", "epochs", "backbone", "name", "preprocess", "augment",
         "image_size", "betas", "lr_steps", "anchors", "sizes", "percentiles", "amp", "x"]  # fmt: skip
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.sampled_from(_KEYS), _values, max_size=4))
def test_fuzzed_configs_only_raise_config_error(data: dict) -> None:
    try:
        config_from_dict(data, Path("fuzz.yaml"))
    except ConfigError as error:
        assert str(error).startswith(("fuzz.yaml: ", "command-line"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=true", "train.lr: expected float, got True (bool)"),  # a bool is not a number
        ("train.epochs=2.0", "train.epochs: expected int, got 2.0 (float)"),
        ("train.tensorboard=1", "train.tensorboard: expected bool, got 1 (int)"),
        ("train.betas=[0.9, 0.8, 0.7]", "train.betas: expected 2 items, got 3"),
        ("model.backbone.timm_kwargs={1: 2}", "model.backbone.timm_kwargs: expected str, got 1"),
        ("model.backbone.norm=layernorm", "model.backbone.norm: must be one of 'frozen_bn', 'bn'"),
        ("model.backbone.name=vgg16", "model.backbone.name: must be one of 'resnet18'"),
        ("train.lr_steps=[1, x]", "override 'train.lr_steps=[1, x]': train.lr_steps[1]: expected"),
    ],
)
def test_pydantic_errors_read_as_one_line_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)
    assert str(info.value).startswith(f"command-line override {override!r}: ")
    assert "\n" not in str(info.value)


def test_yaml_11_numbers_are_floats_and_ints_widen() -> None:
    config = load_config(None, ["train.lr=1", "train.weight_decay=5e-5", "model.anchors.sizes=[4]"])
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert config.train.weight_decay == 5e-5
    assert config.model.anchors.sizes == (4.0,)
