"""`mammorcnn crossval`: folds by woman, one training and evaluation per fold, the pooled FROC
from all folds' detections, and a resume that keeps finished folds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mammorcnn.data import generate_phantom_dataset
from mammorcnn.engine.crossval import write_folds
from mammorcnn.engine.crossval_summary import format_summary_markdown, summarise
from mammorcnn.engine.metrics import evaluate_predictions

from .conftest import tiny_config_dict


@pytest.fixture(scope="module")
def women(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 phantoms of 4 women (two images each), a quarter without masses."""
    folder = tmp_path_factory.mktemp("women")
    return generate_phantom_dataset(folder, 8, seed=5, image_size=96, negative_fraction=0.25)


def test_folds_keep_each_woman_in_one_test_fold(women: Path, tmp_path: Path) -> None:
    folds = write_folds(women, 3, seed=0, out_dir=tmp_path)
    all_ids = {i["id"] for i in json.loads(women.read_text())["images"]}
    tests = []
    for train_json, test_json in folds:
        train, test = (json.loads(p.read_text()) for p in (train_json, test_json))
        train_ids, test_ids = {i["id"] for i in train["images"]}, {i["id"] for i in test["images"]}
        assert train_ids | test_ids == all_ids and not train_ids & test_ids
        train_women = {i["patient_id"] for i in train["images"]}
        assert not train_women & {i["patient_id"] for i in test["images"]}
        assert {a["image_id"] for a in test["annotations"]} <= test_ids
        tests.append(test_ids)
    assert set().union(*tests) == all_ids and sum(map(len, tests)) == len(all_ids)


def tiny_yaml(women: Path, tmp_path: Path, **train: object) -> Path:
    """The tiny config at 96 px, the last checkpoint, and ``train`` settings."""
    config = tiny_config_dict(women, tmp_path / "cache")
    config["data"]["preprocess"]["image_size"] = 96
    config["train"].update(select="last", **train)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_crossval_trains_evaluates_pools_and_resumes(cli, women: Path, tmp_path: Path) -> None:
    path = tiny_yaml(women, tmp_path)
    out = tmp_path / "cv"
    args = ["crossval", path, "--data", women, "--folds", 2, "--out", out, "--device", "cpu"]
    first = cli(*args, "--fold", 1)
    assert first.code == 0, first.err
    assert "run again" in first.out and not (out / "summary.json").exists()
    trained = (out / "fold1" / "run" / "trained.json").stat().st_mtime_ns
    result = cli(*args)
    assert result.code == 0, result.err
    assert (out / "fold1" / "run" / "trained.json").stat().st_mtime_ns == trained  # kept
    summary = json.loads((out / "summary.json").read_text())
    assert [f["n_images"] for f in summary["folds"]] == [4, 4]
    # the pooled report is the evaluation of both folds' detections on the whole set
    results = [
        r for k in (0, 1) for r in json.loads((out / f"fold{k}/test/results.json").read_text())
    ]
    pooled = evaluate_predictions(json.loads(women.read_text()), results)
    assert summary["pooled"]["sensitivities"] == pooled["froc"]["sensitivities"]
    assert summary["pooled"]["n_images"] == 8
    html = (out / "pooled" / "report.html").read_text()  # the review page of every image
    assert html.count('class="card"') == 8  # one gallery card per image of every fold
    assert json.loads((out / "pooled" / "results.json").read_text()) == results
    assert "pooled" in result.out and "fold 1" in result.out and "pooled 95% CI" in result.out
    assert summary["pooled_confidence_intervals"]["unit"] == "patient_id"
    pooled_row = f"| **pooled** | **{summary['pooled']['sensitivities'][0]:.3f}** |"
    assert pooled_row in (out / "summary.md").read_text()  # the table for a paper or docs/
    # the same trained folds evaluated again with test-time flips, beside the plain figures
    flip = cli(*args, "--test-time-flip")
    assert flip.code == 0, flip.err
    assert (out / "fold1" / "run" / "trained.json").stat().st_mtime_ns == trained  # no training
    flip_results = [
        r for k in (0, 1) for r in json.loads((out / f"fold{k}/test-flip/results.json").read_text())
    ]
    flip_summary = json.loads((out / "summary-flip.json").read_text())
    flip_pooled = evaluate_predictions(json.loads(women.read_text()), flip_results)
    assert flip_summary["pooled"]["sensitivities"] == flip_pooled["froc"]["sensitivities"]
    assert flip_results != results  # a merged view changes the scores
    assert json.loads((out / "summary.json").read_text()) == summary  # the plain one is kept
    assert "pooled-flip" in flip.out
    # each pooled report says how its scores were made (predict --operating-point checks it)
    scoring = json.loads((out / "pooled-flip" / "report.json").read_text())["scoring"]
    assert scoring["test_time_flip"] is True
    assert json.loads((out / "pooled" / "report.json").read_text())["scoring"] == {
        **scoring,
        "test_time_flip": False,
    }
    assert (out / "summary-flip.md").read_text().startswith("FROC sensitivity")
    # other settings in the same folder are refused, naming what changed
    other = cli(*args[:-2], "--out", out, "--seed", 3)
    assert other.code == 2 and "seed" in other.err


def test_summary_mean_and_spread_over_folds() -> None:
    def report(sens: list[float], dice: float | None) -> dict:
        return {
            "n_images": 4,
            "n_lesions": 2,
            "froc": {
                "fp_rates": [0.5, 1.0],
                "sensitivities": sens,
                "mean_sensitivity": sum(sens) / 2,
            },
            "dice": {"mean_dice": dice},
            "coco": {"bbox": {"AP": 0.5}, "segm": None},
        }

    summary = summarise(
        [report([0.0, 0.5], 0.6), report([1.0, 1.0], None)], report([0.5, 0.75], 0.6)
    )
    over = summary["over_folds"]
    assert over["sens@0.5"] == {"mean": 0.5, "std": pytest.approx(0.5**0.5), "n": 2}
    assert over["sens@1"]["mean"] == 0.75
    assert over["mean_dice"] == {"mean": 0.6, "std": 0.0, "n": 1}  # a fold without a value
    assert over["mask_ap"] == {"mean": None, "std": None, "n": 0}
    table = format_summary_markdown(summary, title="`cv`").splitlines()
    assert table[0] == "FROC sensitivity at false positives per image, `cv`"
    assert table[2] == "|  | 0.5 | 1 | mean | box AP | mask AP | Dice | masses / images |"
    assert all(line.count("|") == 9 for line in table[2:])  # 8 columns in every row
    assert table[4] == "| fold 0 | 0.000 | 0.500 | 0.250 | 0.500 | n/a | 0.60 | 2 / 4 |"
    assert table[5] == "| fold 1 | 1.000 | 1.000 | 1.000 | 0.500 | n/a | n/a | 2 / 4 |"
    pooled = "| **pooled** | **0.500** | **0.750** | **0.625** | **0.500** | **n/a** | **0.60** |"
    assert table[6] == pooled + " 2 / 4 |"
    assert table[7] == "| mean of folds | 0.500 | 0.750 | 0.625 | 0.500 | n/a | 0.60 |  |"
    assert table[8] == "| sd of folds | 0.707 | 0.354 | 0.530 | 0.000 | n/a | 0.00 |  |"
    assert len(table) == 9  # no interval row or note without a bootstrap


def test_members_train_seed_apart_and_evaluate_as_one_ensemble(
    cli, women: Path, tmp_path: Path
) -> None:
    path = tiny_yaml(women, tmp_path, seed=7)
    out = tmp_path / "cv"
    args = ["crossval", path, "--data", women, "--folds", 2, "--out", out, "--device", "cpu"]
    plain = cli(*args, "--fold", 0)
    assert plain.code == 0, plain.err
    trained = (out / "fold0" / "run" / "trained.json").stat().st_mtime_ns
    ens = cli(*args, "--fold", 0, "--members", 2)
    assert ens.code == 0, ens.err
    assert (out / "fold0" / "run" / "trained.json").stat().st_mtime_ns == trained  # reused
    member = out / "fold0" / "run-member1"
    assert yaml.safe_load((member / "config.yaml").read_text())["train"]["seed"] == 8
    weights = json.loads((member / "trained.json").read_text())["weights"]
    predictions = json.loads((out / "fold0" / "test-ens2" / "predictions.json").read_text())
    assert predictions["settings"]["ensemble"] == [weights]
    report = json.loads((out / "fold0" / "test-ens2" / "report.json").read_text())
    assert report["scoring"]["ensemble_members"] == 1  # what predict --operating-point checks
    single = json.loads((out / "fold0" / "test" / "results.json").read_text())
    merged = json.loads((out / "fold0" / "test-ens2" / "results.json").read_text())
    assert merged != single  # two trainings' views merged
    assert not (out / "fold1" / "run-member1").exists()  # only the asked fold
    zero = cli(*args, "--members", 0)
    assert zero.code == 2 and "--members" in zero.err
    # the same fold evaluated again with nested detections dropped, nothing retrained
    nested = cli(*args, "--fold", 0, "--nested-thresh", 0.5)
    assert nested.code == 0, nested.err
    assert (out / "fold0" / "run" / "trained.json").stat().st_mtime_ns == trained
    kept = json.loads((out / "fold0" / "test-nested0.5" / "predictions.json").read_text())
    assert kept["settings"]["nested_thresh"] == 0.5
    assert len(kept["results"]) < len(single)
    bad = cli(*args, "--nested-thresh", 2)
    assert bad.code == 2 and "--nested-thresh" in bad.err
    # and with a rescaled view merged in, into its own folder
    scaled = cli(*args, "--fold", 0, "--test-time-scales", "1,1.5")
    assert scaled.code == 0, scaled.err
    views = json.loads((out / "fold0" / "test-scales1_1.5" / "predictions.json").read_text())
    assert views["settings"]["test_time_scales"] == [1.0, 1.5]
    assert (
        views["results"]
        != json.loads((out / "fold0" / "test" / "predictions.json").read_text())["results"]
    )
    bad = cli(*args, "--test-time-scales", "0.1")
    assert bad.code == 2 and "--test-time-scales" in bad.err
    # and with further marks of an image lowered, into its own folder
    decayed = cli(*args, "--fold", 0, "--rank-decay", 0.5)
    assert decayed.code == 0, decayed.err
    lowered = json.loads((out / "fold0" / "test-decay0.5" / "predictions.json").read_text())
    assert lowered["settings"]["rank_decay"] == 0.5
    report = json.loads((out / "fold0" / "test-decay0.5" / "report.json").read_text())
    assert report["scoring"]["rank_decay"] == 0.5
    assert sum(r["score"] for r in lowered["results"]) < sum(r["score"] for r in single)
    bad = cli(*args, "--rank-decay", 1.5)
    assert bad.code == 2 and "--rank-decay" in bad.err
    # and with the pectoral rule, into its own folder, recorded as the report's scoring
    pectoral = cli(*args, "--fold", 0, "--pectoral-weight", 0.5)
    assert pectoral.code == 0, pectoral.err
    report = json.loads((out / "fold0" / "test-pectoral0.5" / "report.json").read_text())
    assert report["scoring"]["pectoral_weight"] == 0.5
    bad = cli(*args, "--pectoral-weight", -1)
    assert bad.code == 2 and "--pectoral-weight" in bad.err
    # a calibrated fold model: its evaluations are calibrated, --no-score-calibration the raw
    fold0 = ["--weights", out / "fold0" / "run", "--data", out / "folds" / "fold0_train.json"]
    assert cli("calibrate", *fold0, "--device", "cpu").code == 0
    calibrated = cli(*args, "--fold", 0, "--rank-decay", 0.6)
    raw = cli(*args, "--fold", 0, "--rank-decay", 0.6, "--no-score-calibration")
    assert calibrated.code == 0 and raw.code == 0, calibrated.err + raw.err
    on = json.loads((out / "fold0" / "test-decay0.6" / "report.json").read_text())
    off = json.loads((out / "fold0" / "test-decay0.6-raw" / "report.json").read_text())
    assert on["scoring"]["score_calibration"] is True
    assert off["scoring"]["score_calibration"] is False
    assert on["froc"]["sensitivities"] == off["froc"]["sensitivities"]  # one model: same FROC
    assert on["froc"]["thresholds"] != off["froc"]["thresholds"]  # on another scale


def test_folds_share_one_phantom_pretraining(cli, women: Path, tmp_path: Path) -> None:
    """The phantoms hold nothing of any fold, so OUT/pretrain is made once and every fold
    (and every member) starts from its weights."""
    path = tiny_yaml(women, tmp_path, phantom_pretrain={"images": 2, "epochs": 1})
    out = tmp_path / "cv"
    args = ["crossval", path, "--data", women, "--folds", 2, "--out", out, "--device", "cpu"]
    result = cli(*args, "--members", 2)
    assert result.code == 0, result.err
    weights = out / "pretrain" / "checkpoints" / "best.safetensors"
    assert json.loads((out / "pretrain" / "pretrained.json").read_text())["weights"] == (
        "checkpoints/best.safetensors"
    )
    made = weights.stat().st_mtime_ns
    runs = [out / f"fold{k}" / run for k in (0, 1) for run in ("run", "run-member1")]
    assert all((run / "trained.json").is_file() for run in runs)
    assert not any((run / "pretrain").exists() for run in runs)  # no pretraining per fold
    for run in runs:  # each records the setting it ran with
        assert (
            yaml.safe_load((run / "config.yaml").read_text())["train"]["phantom_pretrain"]["images"]
            == 2
        )
    again = cli(*args, "--members", 2)
    assert again.code == 0, again.err
    assert weights.stat().st_mtime_ns == made  # reused, not retrained


def test_one_category_scored_per_fold_and_pooled(cli, women: Path, tmp_path: Path) -> None:
    """A model of two classes, its masses scored alone (--category): each fold's and the
    pooled figures are those of the masses' ground truth and marks, worked out again here;
    results.json keep both classes."""
    from mammorcnn.engine.metrics.category import one_category

    coco = json.loads(women.read_text())
    for ann in coco["annotations"][1::2]:  # every other lesion is a "distortion"
        ann["category_id"] = 2
    coco["categories"] = [*coco["categories"], {"id": 2, "name": "distortion"}]
    data = women.parent / "two_classes.json"
    data.write_text(json.dumps(coco))
    n_masses = sum(a["category_id"] == 1 for a in coco["annotations"])
    assert 0 < n_masses < len(coco["annotations"])
    path = tiny_yaml(data, tmp_path)
    args = ["crossval", path, "model.num_classes=2", "--data", data, "--folds", 2]
    bad = cli(*args, "--out", tmp_path / "bad", "--category", "calc")
    assert bad.code == 2 and "no category named 'calc'" in bad.err
    assert not (tmp_path / "bad" / "fold0").exists()  # refused before any training
    out = tmp_path / "cv"
    result = cli(*args, "--out", out, "--device", "cpu", "--category", "mass")
    assert result.code == 0, result.err
    results = json.loads((out / "pooled" / "results.json").read_text())
    assert {r["category_id"] for r in results} == {1, 2}  # both classes kept
    gt, masses = one_category(coco, results, "mass", "two_classes.json")
    expected = evaluate_predictions(gt, masses)["froc"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pooled"]["sensitivities"] == expected["sensitivities"]
    pooled = json.loads((out / "pooled" / "report.json").read_text())
    assert pooled["froc"]["n_lesions"] == n_masses
    assert pooled["froc"]["n_predictions"] == len(masses) < len(results)
    assert pooled["ground_truth"]["source"].endswith("(category 'mass' alone)")
    fold_lesions = [
        json.loads((out / f"fold{k}/test/report.json").read_text())["froc"]["n_lesions"]
        for k in (0, 1)
    ]
    assert sum(fold_lesions) == n_masses
    assert json.loads((out / "crossval.json").read_text())["category"] == "mass"
    assert "froc_per_category" not in pooled
    # the same folds pooled without --category: every class together, and each alone
    together = tmp_path / "together"
    shutil.copytree(out, together, ignore=shutil.ignore_patterns("pooled", "summary*"))
    state = json.loads((together / "crossval.json").read_text())
    (together / "crossval.json").write_text(json.dumps({**state, "category": None}))
    again = cli(*args, "--out", together, "--device", "cpu")
    assert again.code == 0, again.err
    both = json.loads((together / "pooled" / "report.json").read_text())
    assert both["froc"]["n_lesions"] == len(coco["annotations"])
    assert list(both["froc_per_category"]) == ["mass", "distortion"]
    mass = both["froc_per_category"]["mass"]
    assert mass["sensitivities"] == pooled["froc"]["sensitivities"]
    assert mass["n_lesions"] == n_masses
