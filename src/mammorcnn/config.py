"""Top-level `Config` and its strict YAML loader.

The loader is generic over dataclass trees. pydantic checks and converts every value against
its field's type hint (Optional, Literal, list[...], tuple[...], dict[...], Path); on top of it
this module keeps what pydantic does not say the project's way: unknown keys with a "did you
mean" hint, one-line errors naming the file (or the command-line override) and the key, and
YAML-author strictness (a bool is not a number, 2.0 is not an int; "1e-4", a string in YAML
1.1, is a float). Sections check their own values in ``__post_init__``. So a typo or a wrong
type fails at load time, instead of as an AttributeError deep inside a week-long run.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import io
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.data.config import DataConfig
from mammorcnn.data.preprocess import PreprocessConfig
from mammorcnn.errors import ConfigError
from mammorcnn.model.config import ModelConfig
from mammorcnn.train_config import TrainConfig

__all__ = [
    "Config",
    "TrainConfig",
    "check_input_channels",
    "config_from_dict",
    "config_to_dict",
    "load_config",
]
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


def check_input_channels(preprocess: PreprocessConfig, model: ModelConfig) -> None:
    """ConfigError unless ``model.backbone.in_channels`` is what ``data.preprocess`` makes
    (2 with ``other_breast``, else 1): a check across sections, so it runs on a whole config
    (:func:`load_config`, the start of a training) and on a weights file's two halves."""
    wanted = 2 if preprocess.other_breast else 1
    if model.backbone.in_channels != wanted:
        raise ConfigError(
            f"data.preprocess.other_breast: {str(preprocess.other_breast).lower()} makes "
            f"{wanted}-channel inputs, but model.backbone.in_channels is "
            f'{model.backbone.in_channels}; set both (docs/training.md, "The other breast")'
        )


# PyYAML follows YAML 1.1, where "1e-4" (no dot) is a string; accept such strings for float
# fields because every user writes learning rates that way.
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


_TOP = "<top>"  # the whole config's key in errors


class _Where:
    """Names the origin of a key (file or command line) in error messages."""

    def __init__(self, path: Path | None, override_keys: dict[str, str]) -> None:
        self.path = path
        self.override_keys = override_keys

    def error(self, key: str, problem: str) -> ConfigError:
        # A section's own validation may already name the full key ("model.x: ...").
        # ... and a check across sections (check_input_channels) names its keys itself
        full = problem.startswith(f"{key}.") or key == _TOP
        text = problem if full else f"{key}: {problem}"
        for okey, override in self.override_keys.items():
            if (
                okey == key
                or okey.startswith(key + ".")
                or key.startswith((okey + ".", okey + "["))
            ):
                return ConfigError(f"command-line override {override!r}: {text}")
        source = str(self.path) if self.path is not None else "config"
        return ConfigError(f"{source}: {text}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _yaml_number(value: Any) -> Any:
    """A YAML 1.1 numeric string ("1e-4") as the float its author meant; anything else as is."""
    return float(value) if isinstance(value, str) and _FLOAT_RE.match(value.strip()) else value


def _author_strict(schema: Any) -> Any:
    """pydantic's schema with bool/int/float strict: no "yes" -> True, True -> 1, 2.0 -> 2."""
    from pydantic_core import core_schema

    if isinstance(schema, list):
        return [_author_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _author_strict(v) for k, v in schema.items()}
    if out.get("type") in ("bool", "int", "float"):
        out["strict"] = True
    if out.get("type") == "float":  # strict, but after YAML 1.1 numbers became floats
        return core_schema.no_info_before_validator_function(_yaml_number, out)
    return out


@functools.cache
def _validator(tp: Any) -> Any:
    """pydantic's validator of a type hint (None for a hint pydantic cannot judge)."""
    from pydantic import PydanticSchemaGenerationError, TypeAdapter
    from pydantic_core import SchemaValidator

    try:
        return SchemaValidator(_author_strict(TypeAdapter(tp).core_schema))
    except PydanticSchemaGenerationError:  # an exotic hint (Callable, ...): not judged
        return None


def _hint_at(tp: Any, loc: tuple) -> Any:
    """The type hint of the item at pydantic's error location ``loc`` inside ``tp``."""
    for i, part in enumerate(loc):
        if part == "[key]":  # pydantic marks a bad dict key after the key itself
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
            tp, args = args[0], list(typing.get_args(args[0]))
        origin = typing.get_origin(tp)
        if origin is dict and len(args) == 2:
            tp = args[0] if loc[i + 1 : i + 2] == ("[key]",) else args[1]
        elif origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            tp = args[part] if isinstance(part, int) and part < len(args) else Any
        elif args:
            tp = args[0]
    return tp


def _key_suffix(loc: tuple) -> str:
    """``.name`` / ``[i]`` path of pydantic's location; a bad dict key names its dict."""
    if "[key]" in loc:
        loc = loc[: loc.index("[key]") - 1]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _problem(error: dict, value: Any, tp: Any) -> tuple[str, str]:
    """(key suffix, one-line problem) of pydantic's first error, in the project's words."""
    loc, kind = tuple(error["loc"]), error["type"]
    tuple_loc = loc[:-1] if kind == "missing" else loc
    if kind in ("missing", "too_short", "too_long"):
        items = _hint_at(tp, tuple_loc)
        if typing.get_origin(items) is tuple:
            given = value
            for part in tuple_loc:
                given = given[part]
            count = len(typing.get_args(items))
            return _key_suffix(tuple_loc), f"expected {count} items, got {len(given)}: {given!r}"
    hint, got = _hint_at(tp, loc), error.get("input", value)
    if kind == "literal_error":
        options = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else ()
        for member in () if options else typing.get_args(hint):  # Optional[Literal[...]]
            options += typing.get_args(member) if member is not type(None) else (None,)
        return _key_suffix(loc), f"must be one of {', '.join(map(repr, options))}, got {got!r}"
    if kind == "enum":
        return _key_suffix(loc), f"must be one of {[m.value for m in hint]}, got {got!r}"
    return _key_suffix(loc), f"expected {_type_name(hint)}, got {got!r} ({type(got).__name__})"


def _coerce(value: Any, tp: Any, key: str, where: _Where) -> Any:
    """Return `value` converted to type `tp` by pydantic, or raise ConfigError naming `key`."""
    from pydantic import ValidationError

    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise where.error(key, f"expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key, where)
    validator = _validator(tp)
    if validator is None:
        return value
    try:
        return validator.validate_python(value)
    except ValidationError as error:
        suffix, problem = _problem(error.errors()[0], value, tp)
        raise where.error(key + suffix, problem) from None


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
        raise where.error(prefix or _TOP, f"missing required key(s): {', '.join(missing)}")
    try:
        return cls(**kwargs)  # the section's __post_init__ checks its values
    except ConfigError as error:
        raise where.error(prefix or _TOP, str(error)) from None
    except (ValueError, TypeError) as error:  # the sections' own validation
        raise where.error(prefix or _TOP, str(error)) from None


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
    where = _Where(path, texts)
    config = _build(Config, merge_config_dicts(data, extra), "", where)
    try:
        check_input_channels(config.data.preprocess, config.model)
    except ConfigError as error:
        raise where.error(_TOP, str(error)) from None
    return config


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
