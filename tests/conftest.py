"""Fixtures shared across the test folders."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The real mini-MIAS films beside the repository (never copied into it); absent on a clone.
REAL_MIAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mini-mias-dev"


@pytest.fixture(scope="session")
def real_mias_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mammorcnn convert --format mini-mias`` of ../shared/data/mini-mias-dev (225 films, 39
    masses); the test is skipped, saying why, where the folder is absent."""
    from mammorcnn.data.convert import convert_dataset

    if not (REAL_MIAS / "Info.txt").is_file():
        pytest.skip(f"real mini-MIAS data not present ({REAL_MIAS})")
    out = tmp_path_factory.mktemp("mias") / "mias.json"
    with pytest.warns(UserWarning, match="mdb059"):  # its mass row has no coordinates
        convert_dataset("mini-mias", REAL_MIAS, out)
    return out
