"""Training's validation FROC applies the model's rank decay, against a hand-worked case."""

from __future__ import annotations

import torch
from torch import nn

from mammorcnn.engine.training.distributed import DistInfo
from mammorcnn.engine.training.validation import make_evaluator, make_overlays, metric_name


class FixedDetections(nn.Module):
    """Returns the given detections for the i-th image of each call, whatever the pixels."""

    def __init__(self, outputs: list[dict]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # gives the evaluator a device
        self.outputs = outputs

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        return [self.outputs[int(image[0, 0, 0])] for image in images]


def _image(index: int) -> torch.Tensor:
    image = torch.zeros(1, 32, 32)
    image[0, 0, 0] = index  # tells the fixed model which image it sees
    return image


def test_validation_sensitivity_uses_the_rank_decay() -> None:
    lesion = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    far = [[0.0, 0.0, 4.0, 4.0], [25.0, 25.0, 30.0, 30.0]]
    val_set = [
        (_image(0), {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}),
        (_image(1), {"boxes": lesion, "labels": torch.ones(1, dtype=torch.long)}),
    ]
    model = FixedDetections(
        [  # image 0: two false positives 0.9 and 0.85; image 1: the mass 0.8, a mark 0.1
            {
                "boxes": torch.tensor(far),
                "scores": torch.tensor([0.9, 0.85]),
                "labels": torch.ones(2, dtype=torch.long),
            },
            {
                "boxes": torch.cat([lesion, torch.tensor(far[:1])]),
                "scores": torch.tensor([0.8, 0.1]),
                "labels": torch.ones(2, dtype=torch.long),
            },
        ]
    )
    at_half = metric_name(0.5)  # 1 false positive over the 2 images
    plain = make_evaluator(val_set, DistInfo(), batch_size=2)(model)
    assert plain[at_half] == 0.0  # 0.9 and 0.85 both rank above the mass
    # with 0.5: image 0's second mark falls to 0.425, below the mass's 0.8
    decayed = make_evaluator(val_set, DistInfo(), batch_size=2, rank_decay=0.5)(model)
    assert decayed[at_half] == 1.0
    assert plain[metric_name(1.0)] == decayed[metric_name(1.0)] == 1.0


def _film_with_muscle() -> torch.Tensor:
    """A 128-px model input: a breast of level 0.4 filling the image right of a left chest
    wall, and a muscle triangle of level 0.8 from (48, 0) on the top edge to (0, 64)."""
    y, x = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    image = torch.full((128, 128), 0.4)
    image[x / 48 + y / 64 < 1] = 0.8
    return image[None]


def test_validation_sensitivity_drops_marks_in_the_pectoral_muscle_of_mlo_views() -> None:
    lesion = torch.tensor([[80.0, 80.0, 100.0, 100.0]])
    in_muscle = torch.tensor([[4.0, 4.0, 16.0, 16.0]])  # centre (10, 10): deep in the triangle
    output = {
        "boxes": torch.cat([in_muscle, lesion]),
        "scores": torch.tensor([0.9, 0.6]),
        "labels": torch.ones(2, dtype=torch.long),
        "masks": torch.zeros(2, 1, 128, 128),
    }

    class SameDetections(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

        def forward(self, images: list[torch.Tensor]) -> list[dict]:
            return [dict(output) for _ in images]

    target = {"boxes": lesion, "labels": torch.ones(1, dtype=torch.long)}
    val_set = [(_film_with_muscle(), target)]
    at_zero_fp = metric_name(0.125)  # no false positive allowed on one image
    evaluate = lambda **kw: make_evaluator(val_set, DistInfo(), **kw)(SameDetections())  # noqa: E731
    assert evaluate()[at_zero_fp] == 0.0  # the 0.9 mark in the muscle outranks the mass
    assert evaluate(pectoral_weight=1.0, views=["MLO"])[at_zero_fp] == 1.0
    assert evaluate(pectoral_weight=1.0, views=["CC"])[at_zero_fp] == 0.0  # CC: no muscle
    assert evaluate(pectoral_weight=0.0, views=["MLO"])[at_zero_fp] == 0.0
    # weight 0.5: the muscle's mark scores 0.45, below the mass's 0.6
    assert evaluate(pectoral_weight=0.5, views=["MLO"])[at_zero_fp] == 1.0


def test_tensorboard_overlays_name_the_class_of_a_model_of_several(
    overlay_label_texts: list[str],
) -> None:
    texts = overlay_label_texts
    target = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    model = FixedDetections(
        [
            {
                "boxes": torch.tensor([[2.0, 2.0, 12.0, 12.0]]),
                "scores": torch.tensor([0.8]),
                "labels": torch.tensor([2]),
            }
        ]  # fmt: skip
    )
    names = ["mass", "asymmetry"]
    images = make_overlays([(_image(0), target)], class_names=names)(model, 1)
    assert set(images) == {"val0"} and images["val0"].shape[0] == 3
    assert texts == ["1 asymmetry: 0.80"]
    texts.clear()
    make_overlays([(_image(0), target)])(model, 1)
    assert texts == ["1: 0.80"]
