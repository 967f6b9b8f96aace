"""Ground truth and results from user files: every defect is an AnnotationError."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammorcnn.engine.metrics.cocoio import image_sizes, load_ground_truth, load_predictions
from mammorcnn.errors import AnnotationError


def test_ground_truth_is_normalised(tiny_gt) -> None:
    ids, lesions, gt = load_ground_truth(tiny_gt)
    assert ids == [1, 2, 7]
    assert [len(les.boxes) for les in lesions] == [2, 1, 0]
    assert np.allclose(lesions[0].boxes[0], [10, 10, 30, 26])
    assert lesions[1].mask(0).sum() == 400  # the polygon, rasterised by pycocotools
    assert lesions[2].masks is None
    assert gt["annotations"][1]["area"] == 80 and gt["annotations"][1]["iscrowd"] == 0
    assert gt["annotations"][2]["area"] == 400
    assert "area" not in tiny_gt["annotations"][1]  # the caller's dict is untouched


def test_predictions_grouped_per_image(perfect_predictions, tiny_gt) -> None:
    _, _, gt = load_ground_truth(tiny_gt)
    dets = load_predictions(perfect_predictions(tiny_gt), image_sizes(gt))
    assert [len(d.scores) for d in dets.values()] == [2, 1, 0]
    assert dets[7].masks is None


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda g: g["annotations"][0].update(bbox=[1, 2, -3, 4]), "not a positive box"),
        (lambda g: g["annotations"][0].update(bbox=[1, 2, 3]), "'bbox' must be"),
        (lambda g: g["annotations"][0].update(image_id=99), "image_id 99"),
        (lambda g: g["images"].append(dict(g["images"][0])), "duplicate image id"),
        (lambda g: g["images"][0].pop("height"), "integer id, height, width"),
        (lambda g: g["annotations"][0]["segmentation"].update(size=[3, 3], counts="9"), "differs"),
        (lambda g: g["annotations"][0]["segmentation"].update(counts="\x00\xff"), "unreadable"),
        (lambda g: g["annotations"][0]["segmentation"].update(counts="0000"), "do not cover"),
        (lambda g: g["annotations"][0]["segmentation"].update(counts=[5, -1]), "do not cover"),
        (lambda g: g["annotations"][2].update(segmentation=[[1, 2]]), "at least 3"),
        (lambda g: g["annotations"][2].update(segmentation="x"), "unknown 'segmentation'"),
        (lambda g: g.pop("images"), "'images' list"),
        (lambda g: g["images"][0].update(id=1.5), "integer id"),
        (lambda g: g["annotations"][0].update(category_id=3), "unknown category_id 3"),
        (lambda g: g.update(annotations={}), "list of objects"),
    ],
)
def test_bad_ground_truth(tiny_gt, mutate, message) -> None:
    gt = copy.deepcopy(tiny_gt)
    mutate(gt)
    with pytest.raises(AnnotationError, match=message) as info:
        load_ground_truth(gt, source="gt.json")
    assert str(info.value).startswith("gt.json: ")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.update(image_id=5), "image_id 5 not in ground truth"),
        (lambda p: p.update(score=float("nan")), "'score' is nan"),
        (lambda p: p.update(score="high"), "'score' must be a number"),
        (lambda p: p.update(bbox=[0, 0, 0, 5]), "not a positive box"),
        (lambda p: p.pop("category_id"), "'category_id' must be"),
        (lambda p: p.update(image_id=[1]), "not in ground truth"),
    ],
)
def test_bad_predictions(perfect_predictions, tiny_gt, mutate, message) -> None:
    preds = perfect_predictions(tiny_gt)
    mutate(preds[1])
    with pytest.raises(AnnotationError, match=message):
        load_predictions(preds, image_sizes(tiny_gt), source="results.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["id", "bbox", "size", "counts", "x"]), children)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(
        ["images", "annotations", "categories", "bbox", "segmentation", "id", "image_id", "area"]
    ),
    json_values,
)
def test_fuzzed_ground_truth_raises_only_annotation_error(tiny_gt, key, value) -> None:
    gt = copy.deepcopy(tiny_gt)
    if key in ("images", "annotations", "categories"):
        gt[key] = value
    elif key == "id":
        gt["images"][0]["id"] = value
    else:
        gt["annotations"][0][key] = value
    try:
        load_ground_truth(gt)
    except AnnotationError:
        pass


def test_rle_string_counts_round_trip(square_mask) -> None:
    from mammorcnn.engine.metrics import encode_masks
    from mammorcnn.engine.metrics.cocoio import rle_string_counts

    mask = square_mask(300, 500, 17, 3, 420, 250)
    mask[100:110, :] = True
    rle = encode_masks(mask[None])[0]
    runs = rle_string_counts(rle["counts"]).tolist()
    flat = mask.T.reshape(-1)  # column-major, as COCO
    assert sum(runs) == flat.size
    assert runs[0] == int(np.argmax(flat))  # leading background run
    assert runs[1] == int(np.argmin(flat[runs[0] :]))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120), max_size=12)
    | st.lists(st.integers(-3, 5200), max_size=5),
    st.integers(0, 1),
)
def test_fuzzed_rle_counts_never_reach_pycocotools_unchecked(tiny_gt, counts, which) -> None:
    """Malformed run lengths would overflow pycocotools' C decoder; they must be refused."""
    gt = copy.deepcopy(tiny_gt)
    gt["annotations"][which]["segmentation"] = {"size": [64, 80], "counts": counts}
    try:
        _, lesions, _ = load_ground_truth(gt)
    except AnnotationError:
        return
    assert lesions[0].mask(which).shape == (64, 80)


def python_rle_counts(text: str) -> list[int]:
    """Straight transcription of pycocotools' rleFrString, the reference for the numpy one."""
    runs: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            c = ord(text[pos]) - 48
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200), st.integers(1, 200))
def test_numpy_rle_parser_equals_reference(seed: int, h: int, w: int) -> None:
    from mammorcnn.engine.metrics import encode_masks
    from mammorcnn.engine.metrics.cocoio import rle_string_counts

    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < rng.random()
    mask[rng.integers(0, h) :, rng.integers(0, w) :] = True  # some very long runs too
    counts = encode_masks(mask[None])[0]["counts"]
    assert rle_string_counts(counts).tolist() == python_rle_counts(counts)
