"""COCO loading: each bad input gets an AnnotationError naming the problem; masks are exact."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mammorcnn.data.coco import (
    annotation_mask,
    load_coco,
    mask_to_rle,
    write_coco,
)
from mammorcnn.data.coco_codec import rle_string_counts
from mammorcnn.errors import AnnotationError

H, W = 40, 50


def _mask() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[10:20, 5:30] = 1
    return m


def valid_coco() -> dict:
    """Two images (one negative), a polygon, an RLE and a box-only annotation."""
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "width": W, "height": H, "patient_id": "p1"},
            {"id": 2, "file_name": "b.png", "width": W, "height": H, "patient_id": "p1"},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [5, 10, 25, 10],
                "segmentation": mask_to_rle(_mask()),
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [30, 30, 10, 5],
                "segmentation": [[30, 30, 40, 30, 40, 35, 30, 35]],
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 1, 3, 4],
                "mammorcnn_box_only": True,
            },
        ],
        "categories": [{"id": 1, "name": "mass"}],
    }


def _write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(obj))
    return path


def test_valid_file_loads_and_fills_area_and_iscrowd(tmp_path: Path) -> None:
    coco = load_coco(_write(tmp_path, valid_coco()))
    assert [a["area"] for a in coco["annotations"]] == [250, 50, 12]
    assert all(a["iscrowd"] == 0 for a in coco["annotations"])


def test_no_annotations_is_fine(tmp_path: Path) -> None:
    obj = valid_coco()
    obj["annotations"] = []
    assert len(load_coco(_write(tmp_path, obj))["images"]) == 2


def _set(path: str, value: object) -> Callable[[dict], None]:
    def mutate(obj: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            obj = obj[int(key)] if key.isdigit() else obj[key]
        obj[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(path: str) -> Callable[[dict], None]:
    def mutate(obj: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            obj = obj[int(key)] if key.isdigit() else obj[key]
        del obj[last]

    return mutate


EMPTY_RLE = mask_to_rle(np.zeros((H, W), np.uint8))
SMALL_RLE = mask_to_rle(np.ones((H - 1, W), np.uint8))
BAD = {
    "missing images": (_drop("images"), "missing key 'images'"),
    "missing annotations": (_drop("annotations"), "missing key 'annotations'"),
    "no images": (_set("images", []), "no images"),
    "no categories": (_set("categories", []), "no categories"),
    "image without width": (_drop("images.0.width"), "missing key 'width'"),
    "image width zero": (_set("images.0.width", 0), "'width' must be an integer"),
    "annotation without bbox": (_drop("annotations.0.bbox"), "missing key 'bbox'"),
    "negative box": (_set("annotations.0.bbox", [5, 10, -3, 10]), "zero or negative size"),
    "zero box": (_set("annotations.0.bbox", [5, 10, 25, 0]), "zero or negative size"),
    "box outside": (_set("annotations.1.bbox", [30, 30, 25, 5]), "outside image"),
    "box left of image": (_set("annotations.1.bbox", [-2, 30, 5, 5]), "outside image"),
    "nan box": (_set("annotations.0.bbox", [5, 10, float("nan"), 10]), "finite numbers"),
    "empty RLE mask": (_set("annotations.0.segmentation", EMPTY_RLE), "empty mask"),
    "empty polygon mask": (
        _set("annotations.1.segmentation", [[30, 30, 35, 30, 40, 30]]),
        "empty mask",
    ),
    "no segmentation": (_drop("annotations.1.segmentation"), "missing segmentation"),
    "mask size differs": (_set("annotations.0.segmentation", SMALL_RLE), "differs from the image"),
    "corrupt RLE": (_set("annotations.0.segmentation.counts", "zz{"), "corrupt"),
    "RLE pixel count": (
        _set("annotations.0.segmentation", {"size": [H, W], "counts": [5, 5]}),
        "cover 10 pixels",
    ),
    "polygon outside": (
        _set("annotations.1.segmentation", [[30, 30, 400, 30, 40, 35]]),
        "polygon lies outside",
    ),
    "odd polygon": (_set("annotations.1.segmentation", [[30, 30, 40, 30, 40]]), "even number"),
    "unknown category": (_set("annotations.0.category_id", 7), "unknown category_id 7"),
    "unknown image": (_set("annotations.0.image_id", 9), "image_id 9 is not among"),
    "duplicate image id": (_set("images.1.id", 1), "duplicate image id 1"),
    "duplicate annotation id": (_set("annotations.1.id", 1), "duplicate annotation id 1"),
    "duplicate category id": (
        _set("categories", [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]),
        "duplicate category id 1",
    ),
    "box-only with mask": (
        _set("annotations.2.segmentation", [[1, 1, 3, 1, 3, 4]]),
        "must not have a segmentation",
    ),
    "bool id": (_set("annotations.0.id", True), "'id' must be an integer"),
    "patient id list": (_set("images.0.patient_id", [1]), "'patient_id' must be"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_input_names_its_problem(tmp_path: Path, case: str) -> None:
    mutate, expected = BAD[case]
    obj = valid_coco()
    mutate(obj)
    path = _write(tmp_path, obj)
    with pytest.raises(AnnotationError) as info:
        load_coco(path)
    assert info.value.path == str(path)
    assert expected in info.value.problem, info.value.problem
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b'{"images": [', "malformed JSON"),
        (b"\xff\xfe\x00", "malformed JSON"),
        (b"[1, 2]", "top level must be a JSON object"),
    ],
)
def test_bad_file_content(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "ann.json"
    path.write_bytes(content)
    with pytest.raises(AnnotationError) as info:
        load_coco(path)
    assert expected in info.value.problem


def test_missing_file_and_missing_images_with_root(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="cannot read"):
        load_coco(tmp_path / "nope.json")
    path = _write(tmp_path, valid_coco())
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(AnnotationError, match=r"images\[1\] \(id 2\): file not found: .*b\.png"):
        load_coco(path, root=tmp_path)
    (tmp_path / "b.png").write_bytes(b"x")
    assert len(load_coco(path, root=tmp_path)["images"]) == 2


def test_skip_bad_drops_only_the_bad_items_and_lists_them(tmp_path: Path) -> None:
    obj = valid_coco()
    obj["images"].append(copy.deepcopy(obj["images"][1]))  # duplicate id 2: both copies go
    obj["annotations"][1]["category_id"] = 5
    obj["annotations"].append({**obj["annotations"][2], "image_id": 2, "id": 4})
    skipped: list[dict] = []
    with pytest.warns(UserWarning, match="skipped"):
        coco = load_coco(_write(tmp_path, obj), skip_bad=True, skipped=skipped)
    assert [i["id"] for i in coco["images"]] == [1]
    assert [a["id"] for a in coco["annotations"]] == [1, 3]
    kinds = sorted((s["kind"], s["id"]) for s in skipped)
    assert kinds == [("annotation", 2), ("annotation", 4), ("image", 2)]
    assert all(s["problem"] and s["file"].endswith("ann.json") for s in skipped)


def test_skip_bad_still_refuses_file_level_problems(tmp_path: Path) -> None:
    obj = valid_coco()
    obj["images"] = [{"id": 1}]
    with pytest.warns(UserWarning), pytest.raises(AnnotationError, match="no usable images"):
        load_coco(_write(tmp_path, obj), skip_bad=True)


def test_annotation_masks_match_their_source() -> None:
    anns = valid_coco()["annotations"]
    assert np.array_equal(annotation_mask(anns[0], H, W), _mask())
    poly = annotation_mask(anns[1], H, W)
    assert poly.dtype == np.uint8 and poly.sum() == 50
    assert list(mask_utils.toBbox(mask_to_rle(poly))) == [30, 30, 10, 5]
    box = annotation_mask(anns[2], H, W)
    assert box[1:5, 1:4].all() and box.sum() == 12
    uncompressed = {
        "size": [H, W],
        "counts": rle_string_counts(anns[0]["segmentation"]["counts"]).tolist(),
    }
    assert np.array_equal(annotation_mask({"segmentation": uncompressed}, H, W), _mask())


def _runs(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")
    runs = [len(list(g)) for _, g in itertools.groupby(flat)]
    return [0, *runs] if flat[0] else runs


@pytest.mark.parametrize("seed", range(5))
def test_rle_string_decoder_agrees_with_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = (rng.random((37, 23)) < rng.uniform(0.05, 0.95)).astype(np.uint8)
    mask[0, 0] = seed % 2
    assert rle_string_counts(mask_to_rle(mask)["counts"]).tolist() == _runs(mask)


def test_write_coco_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.json"
    write_coco(valid_coco(), out)
    assert load_coco(out)["categories"] == [{"id": 1, "name": "mass"}]
    with pytest.raises(TypeError):
        write_coco({"images": [object()]}, out)
    assert json.loads(out.read_text())["categories"] == [{"id": 1, "name": "mass"}]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json"]


def test_unwritable_output_is_an_input_error(tmp_path: Path) -> None:
    from mammorcnn.errors import InputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        write_coco(valid_coco(), tmp_path / "file" / "out.json")  # parent is a file
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(InputError, match="cannot write"):
        write_coco(valid_coco(), tmp_path / "dir.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "file"]
