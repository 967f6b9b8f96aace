"""The pectoral rule on real film mammograms: on the 39 mass images of mini-MIAS (all MLO
views) a muscle edge is found in nearly every one, and no mass centre the database's circles
mark lies inside the muscle found (so the rule cannot drop a mark centred on a mass). On the
four MLO views of the CBIS-DDSM DICOMs of the ``mammograms`` package (another scanner, 16-bit)
the muscle is found as the bright upper corner it is.

Reads ../shared/data/mini-mias-dev (never copied into the repository); skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mammorcnn.config import load_config
from mammorcnn.data.cache import dequantise, quantise
from mammorcnn.data.io import read_image
from mammorcnn.data.preprocess import preprocess
from mammorcnn.engine.inference.pectoral import find_pectoral_line, in_muscle

ROOT = Path(__file__).resolve().parents[3]


def test_muscles_found_and_no_mass_inside_one(real_mias_coco: Path) -> None:
    coco = json.loads(real_mias_coco.read_text())
    settings = load_config(ROOT / "src/mammorcnn/configs/mini-mias.yaml").data.preprocess
    images = {info["id"]: info for info in coco["images"]}
    masses = coco["annotations"]
    assert len(masses) == 39 and all(images[a["image_id"]]["view"] == "MLO" for a in masses)
    found = 0
    for mass in masses:
        info = images[mass["image_id"]]
        image, record = preprocess(read_image(real_mias_coco.parent / info["file_name"]), settings)
        line = find_pectoral_line(dequantise(quantise(image)))
        found += line is not None
        x, y, w, h = mass["bbox"]
        centre = record.boxes_to_model(np.array([[x + w / 2, y + h / 2] * 2], dtype=np.float64))
        assert not in_muscle(torch.from_numpy(centre), line)[0], info["file_name"]
    assert found >= 36  # 39 of 39 when measured (docs/results.md, "Pectoral muscle")


def test_muscles_of_cbis_ddsm_mlo_views(real_images: list[tuple[str, Path, Any]]) -> None:
    """Each MLO view: an edge from the film's top edge cutting off a corner of 5-30 % of the
    breast that is clearly brighter than the rest (11-20 % and 0.20-0.39 brighter when
    measured; docs/results.md, "Pectoral muscle")."""
    settings = load_config(ROOT / "src/mammorcnn/configs/mini-mias.yaml").data.preprocess
    mlo = [raw for view, _, raw in real_images if view.endswith("mlo")]
    assert len(mlo) == 4 and all(raw.meta["view"] == "MLO" for raw in mlo)
    for raw in mlo:
        image = dequantise(quantise(preprocess(raw, settings)[0]))
        line = find_pectoral_line(image)
        assert line is not None and line.y_top <= 8
        y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
        breast = image > 0
        muscle = (line.depth(x, y) > 0) & (y >= line.y_top) & breast
        assert 0.05 <= muscle.sum() / breast.sum() <= 0.30
        assert image[muscle].mean() - image[breast & ~muscle].mean() > 0.15
