"""configs/default.yaml and the docs' config tables are generated from the config dataclasses
and must not drift."""

from __future__ import annotations

import dataclasses

import yaml

from mammorcnn.config import Config, config_to_dict
from mammorcnn.configdoc import (
    DEFAULT_YAML,
    DOCS_DIR,
    config_table,
    default_yaml,
    field_comments,
    generated_files,
    main,
    with_tables,
)


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
    monkeypatch.setattr("mammorcnn.configdoc.DOCS_DIR", tmp_path / "no-docs")
    assert main(["--check"]) == 1
    assert "differs" in capsys.readouterr().out
    assert main([]) == 0 and main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == default_yaml()


def test_committed_docs_tables_are_what_the_generator_writes() -> None:
    docs = {p: t for p, t in generated_files().items() if p != DEFAULT_YAML}
    assert {p.name for p in docs} >= {"training.md", "data.md"}
    for path, text in docs.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} config table drifted from the dataclasses: run python -m mammorcnn.configdoc"
        )


def test_every_section_with_a_table_is_documented() -> None:
    text = (DOCS_DIR / "training.md").read_text(encoding="utf-8")
    text += (DOCS_DIR / "data.md").read_text(encoding="utf-8")
    for section in ("train", "data", "data.preprocess", "data.augment"):
        assert f"<!-- configdoc:{section} -->" in text


def test_table_rows_carry_default_and_comment_and_group_uncommented_fields() -> None:
    table = config_table("data.augment").splitlines()
    assert table[:2] == ["| field | default | meaning |", "|---|---|---|"]
    row = next(r for r in table if r.startswith("| `rotation_degrees`"))
    # translate and scale have no comment of their own: they share rotation's row and reason.
    assert row.startswith(
        "| `rotation_degrees`, `translate`, `scale` | `10.0`, `0.05`, `[0.9, 1.1]` |"
    )
    assert "RandomAffine" in row
    amp = next(r for r in config_table("train").splitlines() if r.startswith("| `amp`"))
    assert "avx512_bf16\\|amx_bf16" in amp  # a pipe in a comment cannot break the table
    assert "[docs/performance.md](performance.md)" in amp


def test_with_tables_replaces_only_between_markers() -> None:
    stale = "intro\n<!-- configdoc:data -->\n| old |\n<!-- /configdoc -->\noutro\n"
    fresh = with_tables(stale)
    assert fresh == (
        "intro\n<!-- configdoc:data -->\n" + config_table("data") + "<!-- /configdoc -->\noutro\n"
    )
    assert "| `cache` | `true` |" in fresh


def test_check_reports_a_drifted_table(tmp_path, monkeypatch, capsys) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "x.md").write_text("<!-- configdoc:train -->\n| lr | 0.02 |\n<!-- /configdoc -->\n")
    monkeypatch.setattr("mammorcnn.configdoc.DOCS_DIR", docs)
    yaml_copy = tmp_path / "default.yaml"
    yaml_copy.write_text(default_yaml(), encoding="utf-8")
    monkeypatch.setattr("mammorcnn.configdoc.DEFAULT_YAML", yaml_copy)
    assert main(["--check"]) == 1
    assert "x.md: differs" in capsys.readouterr().out
    assert main([]) == 0 and main(["--check"]) == 0
    assert "| `lr` | `0.0025` |" in (docs / "x.md").read_text(encoding="utf-8")
