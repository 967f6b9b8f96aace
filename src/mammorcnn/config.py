"""Top-level `Config` and its strict YAML loader.

The loader is generic over dataclass trees: it checks every value against the field's type
hint (Optional, Literal, list[...], tuple[...], dict[...], nested dataclasses) so a typo or a
wrong type in a config fails at load time with the key and the file named, instead of
surfacing as an AttributeError deep inside a week-long run.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import io
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.data.config import DataConfig
from mammorcnn.errors import ConfigError
from mammorcnn.model.config import ModelConfig
from mammorcnn.train_config import TrainConfig

__all__ = ["Config", "TrainConfig", "config_from_dict", "config_to_dict", "load_config"]
__all__ += ["merge_config_dicts", "parse_overrides", "save_config"]


@dataclasses.dataclass
class Config:
    """Everything a run needs; saved as RUN_DIR/config.yaml so a run can be repeated."""

    # The Mask R-CNN (defaults = the specification's model).
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    # Preprocessing, augmentation and the preprocessed-image cache.
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    # Optimiser, schedule, checkpoints and run-time settings.
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


# PyYAML follows YAML 1.1, where "1e-4" (no dot) is a string; accept such strings for float
# fields because every user writes learning rates that way.
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class _Where:
    """Names the origin of a key (file or command line) in error messages."""

    def __init__(self, path: Path | None, override_keys: dict[str, str]) -> None:
        self.path = path
        self.override_keys = override_keys

    def error(self, key: str, problem: str) -> ConfigError:
        # A section's own validation may already name the full key ("model.x: ...").
        text = problem if problem.startswith(f"{key}.") else f"{key}: {problem}"
        for okey, override in self.override_keys.items():
            if okey == key or okey.startswith(key + ".") or key.startswith(okey + "."):
                return ConfigError(f"command-line override {override!r}: {text}")
        source = str(self.path) if self.path is not None else "config"
        return ConfigError(f"{source}: {text}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, where: _Where) -> Any:
    """Return `value` converted to type `tp`, or raise ConfigError naming `key`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = where.error(key, f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise where.error(key, f"expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key, where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key, where)
            except ConfigError:
                continue
        raise bad
    if origin is typing.Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise where.error(key, f"must be one of {', '.join(map(repr, args))}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if isinstance(tp, type) and issubclass(tp, Path):
        if isinstance(value, str):
            return Path(value)
        raise bad
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value in (member.value, member.name):
                return member
        raise where.error(key, f"must be one of {[m.value for m in tp]}, got {value!r}")
    if origin in (list, typing.List, set, frozenset):  # noqa: UP006
        if not isinstance(value, (list, tuple)):
            raise bad
        items = [
            _coerce(v, args[0] if args else Any, f"{key}[{i}]", where) for i, v in enumerate(value)
        ]
        if origin in (list, typing.List):  # noqa: UP006
            return items
        try:
            return origin(items)
        except TypeError:  # unhashable items for a set
            raise bad from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]", where) for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise where.error(key, f"expected {len(args)} items, got {len(value)}: {value!r}")
        item_types = args or (Any,) * len(value)
        return tuple(
            _coerce(v, t, f"{key}[{i}]", where) for i, (v, t) in enumerate(zip(value, item_types))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        kt, vt = args or (Any, Any)
        return {
            _coerce(k, kt, key, where): _coerce(v, vt, f"{key}.{k}", where)
            for k, v in value.items()
        }
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise bad
    return value  # an exotic hint (TypeVar, Callable, ...) the loader does not judge


def _build(cls: type, data: dict, prefix: str, where: _Where) -> Any:
    """Instantiate dataclass `cls` from `data`, strictly (unknown keys are errors)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise where.error(key, f"unknown key{hint}; known: {', '.join(fields)}")
        kwargs[name] = _coerce(value, hints[name], key, where)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise where.error(prefix or "<top>", f"missing required key(s): {', '.join(missing)}")
    try:
        built = cls(**kwargs)
        if callable(getattr(built, "validate", None)):  # e.g. ModelConfig.validate()
            built.validate()
        return built
    except ConfigError as error:
        raise where.error(prefix or "<top>", str(error)) from None
    except (ValueError, TypeError) as error:  # the sections' own validation
        raise where.error(prefix or "<top>", str(error)) from None


def parse_overrides(overrides: list[str]) -> tuple[dict, dict[str, str]]:
    """Turn ``["train.lr=0.01", ...]`` into a nested dict (values parsed as YAML)."""
    nested: dict = {}
    texts: dict[str, str] = {}
    for text in overrides:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"command-line override {text!r}: expected dotted.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"command-line override {text!r}: bad value: {error}") from None
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                node[part] = {}
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        texts[key] = text
    return nested, texts


def merge_config_dicts(base: dict, extra: dict) -> dict:
    """`base` updated by `extra` section by section (nested dicts merge; neither is modified)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config_dicts(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(data: dict, source: Path | None = None) -> Config:
    """Build a `Config` from plain data (as read from YAML), strictly."""
    return _build(Config, data, "", _Where(source, {}))


def load_config(path: Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (None: the defaults) and apply dotted ``key=value`` overrides."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read config: {error}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    extra, texts = parse_overrides(list(overrides or []))
    return _build(Config, merge_config_dicts(data, extra), "", _Where(path, texts))


def config_to_dict(config: Any) -> Any:
    """Plain YAML/JSON-safe data of a dataclass tree (tuples -> lists, Paths -> str)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {str(k): config_to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple, set, frozenset)):
        return [config_to_dict(v) for v in config]
    if isinstance(config, enum.Enum):
        return config.value
    if isinstance(config, Path):
        return str(config)
    return config


def save_config(config: Any, path: Path) -> None:
    """Write `config` as YAML atomically (a crash never leaves half a config.yaml)."""
    buffer = io.StringIO()
    yaml.safe_dump(config_to_dict(config), buffer, sort_keys=False)
    atomic_write_bytes(Path(path), buffer.getvalue().encode("utf-8"))
