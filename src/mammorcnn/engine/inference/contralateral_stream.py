"""Contralateral suppression while `predict` goes through files one batch at a time.

`predict` writes each image's files before reading the next, so the dataset-wide rule of
:mod:`~mammorcnn.engine.inference.contralateral` cannot wait for the whole set. Here an image
is held (its model-space detections, not its full-resolution masks) until the other breast of
its study and view arrives, then both are released with the rule applied. Images pair by the
DICOM StudyInstanceUID and view, the side from the laterality tag or the image content; PNGs
(no study) and images whose study has no other breast in that view are released unchanged.
When the next image belongs to another study, everything held is released, so at most one
study's images wait: keep a study's files together (as PACS exports and folders per study do).

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
        self.waiting: dict[tuple[str, str], dict[str, HeldImage]] = {}
        self.ambiguous: set[tuple[str, str]] = set()  # a view with two images of one side
        self.study: str | None = None

    def add(self, held: HeldImage) -> list[HeldImage]:
        """Hold ``held`` or release it (and what it completes or displaces)."""
        study = held.item.meta.get("StudyInstanceUID")
        side = held.item.record.laterality
        if not study or side not in ("L", "R"):
            return [self._finish(held)]
        released = self.flush() if self.study not in (None, study) else []
        self.study = study
        key = (str(study), str(held.item.meta.get("view") or "").upper())
        group = self.waiting.setdefault(key, {})
        if key in self.ambiguous or side in group:
            # which of two same-side images is the pair is unknown: this view pairs nothing
            self.ambiguous.add(key)
            waiting = list(self.waiting.pop(key).values())
            return released + [self._finish(h) for h in [*waiting, held]]
        other = group.pop("R" if side == "L" else "L", None)
        if other is None:
            group[side] = held
            return released
        first, second = pair_scores(self._side(held), self._side(other), self.weight, self.radius)
        return released + [self._finish(held, first), self._finish(other, second)]

    def flush(self) -> list[HeldImage]:
        """Release every held image unchanged (no other breast came)."""
        released = [self._finish(h) for group in self.waiting.values() for h in group.values()]
        self.waiting.clear()
        self.ambiguous.clear()
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
