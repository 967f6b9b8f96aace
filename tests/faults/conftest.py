"""Fault tests: helpers of the training and CLI tests, and fault injection without root.

Root ignores file permissions, so a read-only folder cannot be made with chmod here: the
writers' os calls are patched to fail with the errno a full, read-only or vanished folder
gives (faults.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
# --import-mode=importlib does not put test folders on sys.path; the helpers live there.
for folder in (HERE, HERE.parent / "engine" / "training"):
    sys.path.insert(0, str(folder))

_spec = importlib.util.spec_from_file_location("cli_conftest", HERE.parent / "cli" / "conftest.py")
_cli = importlib.util.module_from_spec(_spec)
sys.modules["cli_conftest"] = _cli  # dataclasses look their module up there
_spec.loader.exec_module(_cli)
cli, phantoms, tiny_yaml = _cli.cli, _cli.phantoms, _cli.tiny_yaml


@pytest.fixture(autouse=True)
def _restore_torch_globals():  # noqa: ANN202
    """Trainer runs switch on deterministic algorithms process-wide; undo it after each test."""
    yield
    torch.use_deterministic_algorithms(False)
