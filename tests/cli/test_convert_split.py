"""convert and split: thin wrappers, checked for their outputs, messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path


def test_convert_coco_passthrough_and_errors(cli, phantoms: Path, tmp_path: Path):
    out = tmp_path / "conv" / "train.json"
    result = cli("convert", "--format", "coco", phantoms, out)
    assert result.code == 0, result.err
    data = json.loads(out.read_text())
    source = json.loads(phantoms.read_text())
    assert len(data["images"]) == 4 and len(data["annotations"]) == len(source["annotations"])
    assert f"4 image(s) (0 without lesions), {len(source['annotations'])} annotation(s)" in (
        result.out
    )
    assert all((out.parent / img["file_name"]).is_file() for img in data["images"])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = cli("convert", "--format", "coco", bad, tmp_path / "x.json")
    assert result.code == 2 and result.err.count("\n") == 1 and "malformed JSON" in result.err
    result = cli("convert", "--format", "vindr", tmp_path, tmp_path / "x.json")
    assert result.code == 2 and "VinDr" in result.err
    result = cli("convert", "--format", "coco", phantoms, tmp_path / "x.json",
                 "--lesion-types", "mass,tumour")  # fmt: skip
    assert result.code == 2 and "tumour" in result.err
    assert not (tmp_path / "x.json").exists()


def test_convert_skip_bad_writes_skipped_json(cli, phantoms: Path, tmp_path: Path):
    data = json.loads(phantoms.read_text())
    for image in data["images"]:
        image["file_name"] = str(phantoms.parent / image["file_name"])
    data["images"][1]["file_name"] = str(tmp_path / "missing.png")
    src = tmp_path / "src.json"
    src.write_text(json.dumps(data))
    result = cli("convert", "--format", "coco", src, tmp_path / "out.json")
    assert result.code == 2 and "missing.png" in result.err
    result = cli("convert", "--format", "coco", src, tmp_path / "out.json", "--skip-bad")
    assert result.code == 0, result.err
    skipped = json.loads((tmp_path / "skipped.json").read_text())
    assert any("missing.png" in json.dumps(s) for s in skipped)
    assert len(json.loads((tmp_path / "out.json").read_text())["images"]) == 3


def test_split_by_patient(cli, phantoms: Path, tmp_path: Path):
    out = tmp_path / "splits"
    result = cli("split", phantoms, "--out", out, "--val", "0.5", "--seed", "1")
    assert result.code == 0, result.err
    train = json.loads((out / "annotations_train.json").read_text())
    val = json.loads((out / "annotations_val.json").read_text())
    assert not (out / "annotations_test.json").exists()  # --test 0: no test split
    patients = [{i["patient_id"] for i in part["images"]} for part in (train, val)]
    assert patients[0] and patients[1] and not patients[0] & patients[1]
    ids = sorted(i["id"] for part in (train, val) for i in part["images"])
    assert ids == [1, 2, 3, 4]
    assert all((out / i["file_name"]).is_file() for i in train["images"])
    assert "train" in result.out and "val" in result.out
    result = cli("split", phantoms, "--out", out, "--val", "0.7", "--test", "0.4")
    assert result.code == 2 and "leave room for train" in result.err
