"""Shared set-up of the DICOMweb engine tests: one real Orthanc per test module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# --import-mode=importlib does not put test folders on sys.path; the helpers live beside us.
sys.path.insert(0, str(Path(__file__).parent))

from orthanc_server import Orthanc, running_orthanc  # noqa: E402


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def writer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's credentials in the environment, as a user sets them."""
    from orthanc_server import USERS

    from mammorcnn.engine.dicomweb import client

    monkeypatch.delenv(client.TOKEN_ENV, raising=False)
    monkeypatch.setenv(client.USER_ENV, "writer")
    monkeypatch.setenv(client.PASSWORD_ENV, USERS["writer"])
