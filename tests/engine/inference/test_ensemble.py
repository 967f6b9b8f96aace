"""Ensembles: every model is one more view of the merge, and members must mean the same thing
(tests against hand-computed scores and boxes; the merge itself is in test_flip_merge.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mammorcnn.engine.inference.ensemble import check_member, load_members
from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.engine.inference.predictor import Predictor, PreparedImage
from mammorcnn.errors import CheckpointError

from .stubs import identity_item, stub_loaded

SIZE = 64


class FixedModel(torch.nn.Module):
    """Returns the same detections for every image."""

    def __init__(self, boxes: list, scores: list) -> None:
        super().__init__()
        self.boxes, self.scores = torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores)

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        n = len(self.scores)
        return [
            {"boxes": self.boxes, "scores": self.scores, "labels": torch.ones(n, dtype=torch.int64)}
            for _ in images
        ]


def loaded(model: torch.nn.Module, name: str, size: int = SIZE, classes=("mass",)) -> LoadedModel:
    return stub_loaded(model, name, size, classes)


def item() -> PreparedImage:
    return identity_item(np.zeros((SIZE, SIZE), dtype=np.float32))


def test_two_models_average_what_they_agree_on_and_halve_the_rest() -> None:
    a = loaded(FixedModel([[10, 10, 20, 20], [40, 40, 50, 50]], [0.9, 0.6]), "a.safetensors")
    # b's first box overlaps a's first: IoU 90/110 = 0.82; its second is b's alone
    b = loaded(FixedModel([[11, 10, 21, 20], [0, 30, 8, 38]], [0.7, 0.8]), "b.safetensors")
    alone = Predictor(a, score_threshold=0.0, test_time_flip=False)
    assert alone.run([item()])[0]["scores"].tolist() == pytest.approx([0.9, 0.6])
    both = Predictor(a, score_threshold=0.35, test_time_flip=False, ensemble=[b])
    (out,) = both.run([item()])
    # (0.9 + 0.7) / 2 = 0.8; b's lone box 0.8 / 2 = 0.4; a's lone box 0.6 / 2 = 0.3 < 0.35
    assert out["scores"].tolist() == pytest.approx([0.8, 0.4])
    x0 = (0.9 * 10 + 0.7 * 11) / 1.6
    assert out["boxes"][0].tolist() == pytest.approx([x0, 10, x0 + 10, 20])
    assert out["boxes"][1].tolist() == [0, 30, 8, 38]


def test_flips_and_models_multiply_the_views() -> None:
    # a fixed box is where a model puts it in each view: mirrored back (y -> 64 - y) it lies
    # elsewhere, so with flips each model's box is one view of four: score / 4
    a = loaded(FixedModel([[10, 0, 20, 10]], [0.8]), "a.safetensors")
    b = loaded(FixedModel([[10, 0, 20, 10]], [0.4]), "b.safetensors")
    (out,) = Predictor(a, score_threshold=0.0, test_time_flip=True, ensemble=[b]).run([item()])
    # upright views agree: (0.8 + 0.4) / 4 = 0.3; mirrored views agree at y 54..64: 0.3
    assert out["scores"].tolist() == pytest.approx([0.3, 0.3])
    assert sorted(out["boxes"][:, 1].tolist()) == pytest.approx([0, 54])


def test_members_must_share_preprocessing_and_classes() -> None:
    model = FixedModel([[0, 0, 1, 1]], [0.5])
    first = loaded(model, "first.safetensors")
    check_member(first, loaded(model, "same.safetensors"))
    with pytest.raises(CheckpointError, match=r"other\.safetensors.*image_size 128 against 64"):
        check_member(first, loaded(model, "other.safetensors", size=128))
    with pytest.raises(CheckpointError, match=r"classes\.safetensors: has the classes"):
        check_member(first, loaded(model, "classes.safetensors", classes=("calcification",)))


def test_the_same_model_twice_is_refused() -> None:
    model = FixedModel([[0, 0, 1, 1]], [0.5])
    first = loaded(model, "first.safetensors")
    members = load_members(first, ["second"], lambda p: loaded(model, f"{p}.safetensors"))
    assert [m.path for m in members] == [Path("second.safetensors")]
    with pytest.raises(CheckpointError, match="already a member"):
        load_members(first, ["first"], lambda p: loaded(model, f"{p}.safetensors"))


def test_views_nested_after_the_merge_are_dropped_when_the_checkpoint_asks() -> None:
    # IoU 64 / 400 = 0.16: the merge keeps both; the small box lies wholly inside the big one
    a = loaded(FixedModel([[10, 10, 30, 30]], [0.9]), "a.safetensors")
    b = loaded(FixedModel([[12, 12, 20, 20]], [0.8]), "b.safetensors")
    (both,) = Predictor(a, score_threshold=0.0, test_time_flip=False, ensemble=[b]).run([item()])
    assert both["scores"].tolist() == pytest.approx([0.45, 0.4])
    a.model_config.box_head.nested_thresh = 0.5
    (one,) = Predictor(a, score_threshold=0.0, test_time_flip=False, ensemble=[b]).run([item()])
    assert one["scores"].tolist() == pytest.approx([0.45])
    assert one["boxes"].tolist() == [[10, 10, 30, 30]]
