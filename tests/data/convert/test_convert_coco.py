"""COCO pass-through: validated, image paths re-based to the output's folder, skip_bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mammorcnn.data.coco import load_coco
from mammorcnn.data.convert import convert_dataset
from mammorcnn.errors import AnnotationError

from ..test_coco import valid_coco


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    obj = valid_coco()
    for img in obj["images"]:
        img["file_name"] = f"img/{img['file_name']}"
        (src / img["file_name"]).write_bytes(b"png")
    (src / "ann.json").write_text(json.dumps(obj))
    return src / "ann.json"


def test_paths_are_rebased_and_content_kept(tmp_path: Path) -> None:
    src = _source(tmp_path)
    for out in (tmp_path / "src" / "sub" / "out.json", tmp_path / "elsewhere" / "out.json"):
        report = convert_dataset("coco", src, out)
        coco = load_coco(out, root=out.parent)  # every image resolves from the new place
        assert coco["annotations"] == load_coco(src)["annotations"]
        assert report.n_images == 2 and report.n_annotations == 3 and report.n_box_only == 1
        assert report.n_negative_images == 1 and report.per_category == {"mass": 3}
    assert coco["images"][0]["file_name"] == "../src/img/a.png"  # relative: the tree can move


def test_official_split_from_the_images_split_fields(tmp_path: Path) -> None:
    src = _source(tmp_path)
    obj = json.loads(src.read_text())
    obj["images"][0]["split"], obj["images"][1]["split"] = "test", "train"
    src.write_text(json.dumps(obj))
    report = convert_dataset("coco", src, tmp_path / "out" / "all.json", official_split=True)
    parts = {k: load_coco(v, root=v.parent) for k, v in report.split_files.items()}
    assert {k: [i["id"] for i in v["images"]] for k, v in parts.items()} == {
        "test": [1],
        "train": [2],
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "all.json",
        "all_test.json",
        "all_train.json",
    ]
    del obj["images"][1]["split"]
    src.write_text(json.dumps(obj))
    with pytest.raises(AnnotationError, match="has no official split"):
        convert_dataset("coco", src, tmp_path / "out" / "all.json", official_split=True)


def test_missing_image_file_strict_and_skipped(tmp_path: Path) -> None:
    src = _source(tmp_path)
    (src.parent / "img" / "a.png").unlink()
    out = tmp_path / "out" / "out.json"
    with pytest.raises(AnnotationError, match="file not found"):
        convert_dataset("coco", src, out)
    assert not out.exists()
    with pytest.warns(UserWarning, match="file not found"):
        report = convert_dataset("coco", src, out, skip_bad=True)
    assert [img["id"] for img in load_coco(out)["images"]] == [2]
    assert report.n_annotations == 0
    assert json.loads((out.parent / "skipped.json").read_text())[0]["kind"] == "image"
