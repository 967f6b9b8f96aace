"""`mammorcnn --help` and every `mammorcnn COMMAND --help` work and describe the options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mammorcnn.cli.main import COMMANDS

# The options each of these commands must offer (issue 4 / issue 6).
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


def test_module_entry_point_runs():
    """`python -m mammorcnn.cli.main` (the form torchrun runs) answers in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "mammorcnn.cli.main", "predict", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--score-threshold" in done.stdout
