"""`mammorcnn --help` and every `mammorcnn COMMAND --help` work and describe the options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mammorcnn.cli.main import COMMANDS

# The options each of these commands must offer.
OPTIONS = {
    "predict": ["--weights", "--out", "--batch-size", "--device", "--score-threshold",
                "--skip-bad", "--no-seg", "--no-overlay", "--image-size"],
    "evaluate": ["--weights", "--data", "--out", "--hit-rule", "--results"],
    "fit-anchors": ["--data", "--config", "--out"],
    "convert": ["--format", "--lesion-types", "--classes", "--skip-bad"],
    "split": ["--out", "--val", "--test", "--seed"],
}  # fmt: skip


def test_top_level_help_lists_every_command(cli):
    result = cli("--help")
    assert result.code == 0
    for name, _, _ in COMMANDS:
        assert name in result.out


@pytest.mark.parametrize("command", [name for name, _, _ in COMMANDS])
def test_command_help(cli, command: str):
    result = cli(command, "--help")
    assert result.code == 0, result.err
    assert f"usage: mammorcnn {command}" in result.out
    for option in OPTIONS.get(command, []):
        assert option in result.out, option


def test_top_level_summary_of_split_names_its_three_files(cli):
    line = next(x for x in cli("--help").out.splitlines() if x.strip().startswith("split"))
    assert "train/val/test" in line


@pytest.mark.parametrize(
    ("command", "defaults"),
    [("split", ["(default 0.2)", "(default 0: no test file)", "(default 0)"]),
     ("export", ["(default onnx)"])],
)  # fmt: skip
def test_help_shows_the_defaults(cli, command: str, defaults: list[str]):
    text = " ".join(cli(command, "--help").out.split())  # argparse wraps lines
    for default in defaults:
        assert default in text, default


def test_module_entry_point_runs():
    """`python -m mammorcnn.cli.main` (the form torchrun runs) answers in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "mammorcnn.cli.main", "predict", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--score-threshold" in done.stdout
