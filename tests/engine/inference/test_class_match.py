"""A model of several classes scored on a file of fewer: classes paired by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mammorcnn.engine.inference.class_match import paired_categories, scored_detections
from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
from mammorcnn.engine.inference.predictions_file import read_results
from mammorcnn.errors import AnnotationError, CheckpointError

from ..conftest import make_checkpoint

THREE = ["mass", "architectural_distortion", "asymmetry"]
CPU = DatasetRunOptions(device="cpu")


def pair(file_categories: list[dict], names: list[str] = THREE) -> dict[int, int]:
    model = [{"id": i, "name": name} for i, name in enumerate(names, 1)]
    return paired_categories(model, file_categories, Path("w"), Path("f.json"))


def test_same_ids_pair_as_they_always_have() -> None:
    cats = [{"id": 1, "name": "mass"}, {"id": 2, "name": "x"}, {"id": 3, "name": "y"}]
    assert pair(cats) == {1: 1, 2: 2, 3: 3}  # the ids decide, names unread


def test_a_file_of_fewer_categories_pairs_by_name() -> None:
    assert pair([{"id": 7, "name": "mass"}]) == {1: 7}
    both = [{"id": 2, "name": "asymmetry"}, {"id": 5, "name": "mass"}]
    assert pair(both) == {3: 2, 1: 5}


@pytest.mark.parametrize(
    ("categories", "names", "why"),
    [
        ([{"id": 1, "name": "calcification"}], THREE, "no class of the model is named 'calcific"),
        ([{"id": 4, "name": "mass"}, {"id": 5, "name": "mass"}], THREE, "names repeat"),
        ([{"id": 4, "name": "mass"}], ["mass", "mass"], "names repeat"),
        ([], THREE, "the file has no category"),
        ([{"id": 4, "name": ["mass"]}], THREE, "no class of the model is named None"),
    ],
)
def test_refused_with_both_sides_named(categories: list, names: list, why: str) -> None:
    with pytest.raises(CheckpointError, match=why) as error:
        pair(categories, names)
    assert "f.json" in str(error.value) and str(names[0]) in str(error.value)


def test_scored_detections_keeps_the_paired_labels_in_order() -> None:
    output = {
        "labels": torch.tensor([1, 2, 1, 3]),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]),
        "boxes": torch.arange(16.0).reshape(4, 4),
        "masks": torch.arange(4.0).reshape(4, 1, 1, 1),
    }
    kept = scored_detections(output, {1: 7, 3: 2})
    assert kept["labels"].tolist() == [1, 1, 3]
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert kept["boxes"][:, 0].tolist() == [0.0, 8.0, 12.0]
    assert kept["masks"].flatten().tolist() == [0.0, 2.0, 3.0]


def with_categories(phantoms: Path, out: Path, categories: list[dict], mass_id: int) -> Path:
    """The phantoms' COCO file with other categories (images by absolute path)."""
    coco = json.loads(phantoms.read_text())
    for image in coco["images"]:
        image["file_name"] = str(phantoms.parent / image["file_name"])
    for annotation in coco["annotations"]:
        annotation["category_id"] = mass_id
    coco["categories"] = categories
    out.write_text(json.dumps(coco))
    return out


def test_two_class_model_on_a_mass_only_file(phantoms: Path, tmp_path: Path) -> None:
    """The forced model gives every proposal a 'mass' and a 'calcification' detection; on a
    file of masses alone, under the file's id, are exactly the model's mass detections."""
    weights = make_checkpoint(
        tmp_path / "two.safetensors", num_classes=2, force=True,
        class_names=["mass", "calcification"],
    )  # fmt: skip
    both_file = with_categories(
        phantoms, tmp_path / "both.json",
        [{"id": 1, "name": "mass"}, {"id": 2, "name": "calcification"}], 1,
    )  # fmt: skip
    both, _ = predict_dataset(weights, both_file, CPU, progress=False)
    assert {r["category_id"] for r in both} == {1, 2}
    mass_file = with_categories(phantoms, tmp_path / "mass.json", [{"id": 7, "name": "mass"}], 7)
    out = tmp_path / "eval"
    masses, _ = predict_dataset(weights, mass_file, CPU, out_dir=out, progress=False)
    assert masses == [{**r, "category_id": 7} for r in both if r["category_id"] == 1]
    written = json.loads((out / "predictions.json").read_text())
    assert written["categories"] == [{"id": 7, "name": "mass"}]
    assert written["settings"]["unscored_classes"] == ["calcification"]
    assert written["model"]["class_names"] == ["mass", "calcification"]
    assert [i["n_detections"] for i in written["images"]] == [
        sum(r["image_id"] == i["id"] for r in masses) for i in written["images"]
    ]
    # the three-class run's own predictions file, scored on the mass file, pairs the same way
    predict_dataset(weights, both_file, CPU, out_dir=tmp_path / "both", progress=False)
    mass_coco = json.loads(mass_file.read_text())
    saved = read_results(tmp_path / "both" / "predictions.json", mass_coco, mass_file)
    assert saved == masses
    # the same ids are scored by id, as before (every class kept, for the evaluator to judge)
    both_coco = json.loads(both_file.read_text())
    assert read_results(tmp_path / "both" / "predictions.json", both_coco, both_file) == both
    other = with_categories(phantoms, tmp_path / "o.json", [{"id": 3, "name": "asymmetry"}], 3)
    with pytest.raises(AnnotationError, match="no class of the model is named 'asymmetry'"):
        read_results(tmp_path / "both" / "predictions.json", json.loads(other.read_text()), other)
