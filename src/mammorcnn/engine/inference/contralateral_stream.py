"""Contralateral suppression while `predict` goes through files one batch at a time.

`predict` writes each image's files before reading the next, so the dataset-wide rule of
:mod:`~mammorcnn.engine.inference.contralateral` cannot wait for the whole set. Here an image
is held (its model-space detections, not its full-resolution masks) until the other breast of
its study and view arrives, then both are released with the rule applied (study_pairing.py:
by StudyInstanceUID and view; an image without a partner is released unchanged).

The score threshold and the detection cap are applied after the rule, so `predict` keeps the
detections `evaluate` scored at the same operating point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mammorcnn.engine.inference.contralateral import (
    Side,
    breast_box_model,
    breast_coordinates,
    check_settings,
    pair_scores,
)
from mammorcnn.engine.inference.predictor import PreparedImage
from mammorcnn.engine.inference.study_pairing import StudyPairing


@dataclass
class HeldImage:
    """One predicted image waiting for its other breast."""

    image_id: int
    name: str
    item: PreparedImage
    output: dict[str, torch.Tensor]  # model-space detections, best first


class ContralateralStream:
    """Pairs images as they come; :meth:`add` and :meth:`flush` return those ready to write."""

    def __init__(
        self, weight: float, radius: float, score_threshold: float, max_detections: int | None
    ) -> None:
        check_settings(weight, radius)
        self.weight, self.radius = weight, radius
        self.score_threshold, self.max_detections = score_threshold, max_detections
        self.pairing: StudyPairing[HeldImage] = StudyPairing()

    def add(self, held: HeldImage) -> list[HeldImage]:
        """Hold ``held`` or release it (and what it completes or displaces)."""
        return self._release(self.pairing.add(held))

    def flush(self) -> list[HeldImage]:
        """Release every held image unchanged (no other breast came)."""
        return self._release(self.pairing.flush())

    def _release(self, ready: list[tuple[HeldImage, HeldImage | None]]) -> list[HeldImage]:
        """Each pair with the rule applied to both, each single image unchanged."""
        released = []
        for held, other in ready:
            if other is None:
                released.append(self._finish(held))
                continue
            first, second = pair_scores(
                self._side(held), self._side(other), self.weight, self.radius
            )
            released += [self._finish(held, first), self._finish(other, second)]
        return released

    @staticmethod
    def _side(held: HeldImage) -> Side:
        out = held.output
        boxes = out["boxes"].double().numpy()
        centres = breast_coordinates(boxes, breast_box_model(held.item.record))
        return centres, out["scores"].double().numpy(), out["labels"].numpy()

    def _finish(self, held: HeldImage, scores: np.ndarray | None = None) -> HeldImage:
        """The image with its new scores, best first, thresholded and capped."""
        out = dict(held.output)
        if scores is not None:
            out["scores"] = torch.as_tensor(scores, dtype=out["scores"].dtype)
        order = torch.argsort(out["scores"], descending=True, stable=True)
        order = order[out["scores"][order] >= self.score_threshold][: self.max_detections]
        return HeldImage(held.image_id, held.name, held.item, {k: v[order] for k, v in out.items()})
