"""One category of a multi-class model scored alone (`evaluate --category`): the lesions and
marks of the others leave, their images are marked has_other_findings as convert marks them,
and the figures are those of the one-type file (worked out by hand; on the real mini-MIAS
files, the same ground truth as converting the one type)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mammorcnn.cli.main import main
from mammorcnn.engine.metrics import HitRule, evaluate_predictions
from mammorcnn.engine.metrics.category import one_category
from mammorcnn.engine.report.review import ground_truth_fingerprint
from mammorcnn.errors import ConfigError

from ...conftest import REAL_MIAS


def _square(x: float, y: float, s: float) -> list[list[float]]:
    return [[x, y, x + s, y, x + s, y + s, x, y + s]]


def _lesion(ann_id: int, image_id: int, category_id: int, x: float) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id,
            "bbox": [x, x, 20, 20], "segmentation": _square(x, x, 20), "area": 400,
            "iscrowd": 0}  # fmt: skip


GT = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 100, "height": 100},  # a mass
        {"id": 2, "file_name": "b.png", "width": 100, "height": 100},  # a distortion
        {"id": 3, "file_name": "c.png", "width": 100, "height": 100},  # normal
        {"id": 4, "file_name": "d.png", "width": 100, "height": 100,
         "has_other_findings": ["calcification"]},  # a mass, a distortion, calcifications
    ],
    "annotations": [_lesion(1, 1, 1, 10), _lesion(2, 2, 2, 50), _lesion(3, 4, 2, 10),
                    _lesion(4, 4, 1, 60)],
    "categories": [{"id": 1, "name": "mass"}, {"id": 2, "name": "architectural_distortion"}],
}  # fmt: skip
PREDICTIONS = [
    {"image_id": 2, "category_id": 2, "bbox": [52, 52, 16, 16], "score": 0.95},  # distortion
    {"image_id": 2, "category_id": 1, "bbox": [52, 52, 16, 16], "score": 0.8},  # mass mark on it
    {"image_id": 1, "category_id": 1, "bbox": [12, 12, 16, 16], "score": 0.7},  # hits the mass
    {"image_id": 3, "category_id": 2, "bbox": [40, 40, 10, 10], "score": 0.6},  # distortion FP
    {"image_id": 4, "category_id": 1, "bbox": [62, 62, 16, 16], "score": 0.5},  # hits the mass
]


def test_one_category_keeps_its_lesions_and_marks() -> None:
    gt, kept = one_category(GT, PREDICTIONS, "mass", "gt.json")
    assert [a["id"] for a in gt["annotations"]] == [1, 4]
    assert gt["categories"] == [{"id": 1, "name": "mass"}]
    assert [p["score"] for p in kept] == [0.8, 0.7, 0.5]
    marked = {i["id"]: i.get("has_other_findings") for i in gt["images"]}
    assert marked == {1: None, 2: ["architectural_distortion"], 3: None,
                      4: ["architectural_distortion", "calcification"]}  # fmt: skip
    assert GT["images"][3]["has_other_findings"] == ["calcification"]  # the input is untouched


def test_masses_alone_score_as_by_hand() -> None:
    gt, kept = one_category(GT, PREDICTIONS, "mass", "gt.json")
    report = evaluate_predictions(gt, kept, HitRule())
    # 0.8 on the distortion is a FP (1/4 per image), then both masses: 1.0 from 0.25 FP/image
    assert report["froc"]["sensitivities"] == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert report["froc"]["n_lesions"] == 2
    # class-agnostic, all four lesions: 0.95 and 0.8 hit image 2's distortion (no FP), 0.7 the
    # first mass (2 of 4 at 0 FP); 0.6 is the only FP (1/4), then 0.5 finds the second mass;
    # image 4's distortion is never marked
    both = evaluate_predictions(GT, PREDICTIONS, HitRule())
    assert both["froc"]["sensitivities"] == [0.5, 0.75, 0.75, 0.75, 0.75, 0.75]
    assert both["froc"]["n_lesions"] == 4


def test_unknown_category_names_the_file_and_the_names() -> None:
    with pytest.raises(ConfigError, match=r"gt.json: no category named 'calc' \(categories: "
                       r"'mass', 'architectural_distortion'\)"):  # fmt: skip
        one_category(GT, PREDICTIONS, "calc", "gt.json")


def _evaluate_argv(tmp_path: Path) -> tuple[list[str], Path]:
    """`evaluate` of PREDICTIONS against GT, written to files; and the ground truth's path."""
    data, results = tmp_path / "gt.json", tmp_path / "results.json"
    data.write_text(json.dumps(GT))
    results.write_text(json.dumps(PREDICTIONS))
    return ["evaluate", "--data", str(data), "--results", str(results), "--no-html"], data


def test_cli_scores_one_category_and_refuses_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, data = _evaluate_argv(tmp_path)
    out = tmp_path / "eval"
    assert main([*argv, "--out", str(out), "--category", "mass", "--bootstrap", "10"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["froc"]["n_lesions"] == 2 and report["froc"]["n_predictions"] == 3
    assert report["ground_truth"]["source"].endswith("(category 'mass' alone)")
    capsys.readouterr()
    assert main([*argv, "--category", "calc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no category named 'calc'" in err[0] and str(data) in err[0]


def test_real_mias_masses_alone_equal_the_mass_conversion(
    real_mias_coco: Path, tmp_path: Path
) -> None:
    from mammorcnn.data.convert import convert_dataset

    src = json.loads(real_mias_coco.read_text())
    three = tmp_path / "three.json"
    types = ("mass", "architectural_distortion", "asymmetry")
    with pytest.warns(UserWarning, match="mdb059"):
        convert_dataset("mini-mias", REAL_MIAS, three, lesion_types=types)
    gt3 = json.loads(three.read_text())
    assert len(gt3["annotations"]) == 63  # 39 masses, 14 distortions, 10 asymmetries
    gt, _ = one_category(gt3, [], "mass", str(three))
    assert ground_truth_fingerprint(gt) == ground_truth_fingerprint(src)
    flags = [(i["file_name"], i.get("has_other_findings")) for i in gt["images"]]
    assert flags == [(i["file_name"], i.get("has_other_findings")) for i in src["images"]]


def test_each_category_alone_beside_the_class_agnostic_froc(tmp_path: Path) -> None:
    from mammorcnn.engine.metrics.per_category import REPORT_KEY, add_per_category_froc

    report = evaluate_predictions(GT, PREDICTIONS, HitRule(), out_dir=tmp_path)
    text = add_per_category_froc(report, GT, PREDICTIONS, HitRule(), tmp_path, "gt.json")
    each = report[REPORT_KEY]
    assert list(each) == ["mass", "architectural_distortion"]
    # masses: as --category mass (test above)
    gt, kept = one_category(GT, PREDICTIONS, "mass", "gt.json")
    assert each["mass"] == evaluate_predictions(gt, kept, HitRule())["froc"]
    assert each["mass"]["sensitivities"] == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    # distortions: 0.95 finds image 2's (1 of 2 at 0 FP), 0.6 on the normal image is a FP
    # (1/4 per image), image 4's is never marked by a distortion mark: 0.5 at every rate
    assert each["architectural_distortion"]["sensitivities"] == [0.5] * 6
    assert each["architectural_distortion"]["n_lesions"] == 2
    assert json.loads((tmp_path / "report.json").read_text())[REPORT_KEY] == each
    assert text is not None
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:]}
    assert rows["mass"] == ["0.000", "1.000", "1.000", "1.000", "1.000", "1.000", "0.833", "2"]
    assert rows["architectural_distortion"][-1] == "2"
    one = {**GT, "categories": GT["categories"][:1]}
    assert add_per_category_froc({"froc": report["froc"]}, one, PREDICTIONS, HitRule()) is None


def test_cli_prints_each_category_unless_one_is_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*_evaluate_argv(tmp_path)[0], "--bootstrap", "10"]
    assert main([*argv, "--out", str(tmp_path / "all")]) == 0
    printed = capsys.readouterr().out
    assert "FROC of each category alone" in printed
    assert "froc_per_category" in json.loads((tmp_path / "all" / "report.json").read_text())
    assert main([*argv, "--out", str(tmp_path / "mass"), "--category", "mass"]) == 0
    assert "FROC of each category alone" not in capsys.readouterr().out
    report = json.loads((tmp_path / "mass" / "report.json").read_text())
    assert "froc_per_category" not in report
