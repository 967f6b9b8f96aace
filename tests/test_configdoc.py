"""configs/default.yaml is generated from the config dataclasses and must not drift."""

from __future__ import annotations

import dataclasses

import yaml

from mammorcnn.config import Config, config_to_dict
from mammorcnn.configdoc import DEFAULT_YAML, default_yaml, field_comments, main


@dataclasses.dataclass
class _Toy:
    """A toy section."""

    # What a does,
    # over two lines.
    a: int = 1
    b: str = "x"  # not above the field: not its comment
    # c's reason.
    c: tuple[float, ...] = (0.5, 2.0)


def test_committed_default_yaml_is_what_the_generator_writes() -> None:
    assert DEFAULT_YAML.read_text(encoding="utf-8") == default_yaml(), (
        "configs/default.yaml drifted from the dataclasses: run python -m mammorcnn.configdoc"
    )


def test_generated_yaml_loads_back_as_the_defaults() -> None:
    assert yaml.safe_load(default_yaml()) == config_to_dict(Config())


def test_field_comments_are_the_lines_directly_above_each_field() -> None:
    assert field_comments(_Toy) == {"a": ["What a does,", "over two lines."], "b": [],
                                    "c": ["c's reason."]}  # fmt: skip


def test_check_reports_drift(tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "default.yaml"
    stale.write_text(default_yaml().replace("lr: 0.0025", "lr: 0.02"), encoding="utf-8")
    monkeypatch.setattr("mammorcnn.configdoc.DEFAULT_YAML", stale)
    assert main(["--check"]) == 1
    assert "differs" in capsys.readouterr().out
    assert main([]) == 0 and main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == default_yaml()
