"""Splitting by patient: a partition of the images, no patient in two splits, near the asked
fractions, positives in every split, deterministic per seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammorcnn.data.coco import load_coco, mask_to_rle
from mammorcnn.data.split import assign_patients, split_by_patient
from mammorcnn.errors import ConfigError


def _coco(tmp_path: Path, images_per_patient: list[int], positive_every: int = 2) -> Path:
    import numpy as np

    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:4] = 1
    images, anns = [], []
    for p, n in enumerate(images_per_patient):
        for _ in range(n):
            images.append(
                {
                    "id": len(images) + 1,
                    "file_name": f"i{len(images)}.png",
                    "width": 8,
                    "height": 8,
                    "patient_id": f"P{p}",
                }
            )
            if p % positive_every == 0:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": len(images),
                        "category_id": 1,
                        "bbox": [2, 2, 2, 2],
                        "segmentation": mask_to_rle(mask),
                    }
                )
    path = tmp_path / "all.json"
    path.write_text(
        json.dumps(
            {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "mass"}]}
        )
    )
    return path


def _patients(path: Path) -> set[str]:
    return {img["patient_id"] for img in load_coco(path)["images"]}


def test_no_patient_in_two_splits_and_all_images_kept(tmp_path: Path) -> None:
    src = _coco(tmp_path, [2] * 20 + [5, 1, 3])
    paths = split_by_patient(src, seed=3)
    assert set(paths) == {"train", "val"} and paths["val"] == tmp_path / "all_val.json"
    train, val = load_coco(paths["train"]), load_coco(paths["val"])
    assert not _patients(paths["train"]) & _patients(paths["val"])
    ids = sorted(i["id"] for i in train["images"] + val["images"])
    assert ids == list(range(1, 50))
    assert len(train["annotations"]) + len(val["annotations"]) == len(load_coco(src)["annotations"])
    assert abs(len(val["images"]) - 0.2 * 49) <= 5  # within one (largest) patient
    assert val["annotations"] and train["annotations"]  # stratified: positives on both sides
    assert val["info"]["split"] == "val" and val["info"]["seed"] == 3


def test_deterministic_per_seed(tmp_path: Path) -> None:
    src = _coco(tmp_path, [1, 2] * 10)
    first = _patients(split_by_patient(src, seed=1)["val"])
    assert _patients(split_by_patient(src, seed=1)["val"]) == first
    others = [_patients(split_by_patient(src, seed=s)["val"]) for s in range(2, 6)]
    assert any(o != first for o in others)


def test_three_splits_and_out_dir_rebases_paths(tmp_path: Path) -> None:
    src = _coco(tmp_path, [1] * 10)
    for i in range(10):
        (tmp_path / f"i{i}.png").write_bytes(b"x")
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    paths = split_by_patient(src, fractions, seed=0, out_dir=tmp_path / "splits")
    sizes = {n: len(load_coco(p, root=p.parent)["images"]) for n, p in paths.items()}
    assert sizes == {"train": 6, "val": 2, "test": 2}


def test_missing_patient_ids_warn(tmp_path: Path) -> None:
    src = _coco(tmp_path, [1] * 4)
    obj = json.loads(src.read_text())
    del obj["images"][0]["patient_id"]
    src.write_text(json.dumps(obj))
    with pytest.warns(UserWarning, match="1 image\\(s\\) without patient_id"):
        split_by_patient(src)


@pytest.mark.parametrize(
    "fractions",
    [{"train": 0.8, "val": 0.3}, {"train": 1.0, "val": 0.0}, {}, {"../x": 1.0}, {"a": "1"}],
)
def test_bad_fractions(tmp_path: Path, fractions: dict) -> None:
    with pytest.raises(ConfigError):
        split_by_patient(_coco(tmp_path, [1] * 4), fractions)


def test_too_few_patients(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1 patient"):
        split_by_patient(_coco(tmp_path, [3]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=3, max_size=40),
    st.lists(st.floats(0.05, 1.0), min_size=2, max_size=3),
    st.integers(0, 2**32 - 1),
    st.sets(st.integers(0, 39)),
)
def test_assignment_properties(sizes: list[int], weights: list[float], seed: int, pos: set[int]):
    fractions = {f"s{i}": w / sum(weights) for i, w in enumerate(weights)}
    patients = {f"p{i}": n for i, n in enumerate(sizes)}
    positive = {f"p{i}" for i in pos if i < len(sizes)}
    out = assign_patients(patients, positive, fractions, seed)
    assert set(out) == set(patients) and set(out.values()) == set(fractions)  # none empty
    total, k = sum(sizes), len(fractions)
    for name, f in fractions.items():
        got = sum(patients[p] for p in out if out[p] == name)
        assert abs(got - f * total) <= (2 * (k - 1) + 1) * max(sizes)
