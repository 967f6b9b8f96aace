"""Fuzzing the COCO loader: whatever the structure or bytes, only AnnotationError comes out,
and whatever it accepts can be turned into masks without a crash."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammorcnn.data.coco import annotation_mask, load_coco, validate_coco
from mammorcnn.errors import AnnotationError

from .test_coco import valid_coco

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5)
    ),
    max_leaves=20,
)


def _accepts_cleanly(obj: Any, skip_bad: bool = False) -> None:
    """Either AnnotationError, or a result whose every mask decodes non-empty at image size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = validate_coco(obj, "fuzz.json", skip_bad=skip_bad)
        except AnnotationError:
            return
    sizes = {img["id"]: (img["height"], img["width"]) for img in out["images"]}
    for ann in out["annotations"]:
        mask = annotation_mask(ann, *sizes[ann["image_id"]])
        assert mask.shape == sizes[ann["image_id"]] and mask.any()


@FUZZ
@given(json_values)
def test_random_structures(obj: Any) -> None:
    _accepts_cleanly(obj)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(st.data(), st.booleans())
def test_mutated_valid_files(data: st.DataObject, skip_bad: bool) -> None:
    obj = valid_coco()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(obj) if p]
        if not paths:
            break
        *parents, last = data.draw(st.sampled_from(paths))
        parent = obj
        for key in parents:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "delete":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = data.draw(json_values)
    _accepts_cleanly(obj, skip_bad)


@FUZZ
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=140), max_size=30))
def test_random_rle_strings(counts: str) -> None:
    obj = valid_coco()
    obj["annotations"][0]["segmentation"]["counts"] = counts
    _accepts_cleanly(obj)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    try:
        load_coco(path)
    except AnnotationError:
        pass


def test_fuzz_helper_can_fail() -> None:
    """The property above is not vacuous: a valid file is accepted and decoded."""
    obj = valid_coco()
    out = validate_coco(obj, "x.json")
    assert np.asarray(annotation_mask(out["annotations"][0], 40, 50)).sum() == 250
