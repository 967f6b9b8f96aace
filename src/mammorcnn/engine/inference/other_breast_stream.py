"""The other breast as a second input channel while `predict` goes through files.

A model trained with ``data.preprocess.other_breast`` reads each film with the same woman's
other breast in the same view (docs/training.md, "The other breast"). `predict` reads files
one at a time, so a film is held (preprocessed, before the model runs) until its partner
arrives; then both go on, each with the other's preprocessed film as its second channel.
Images pair as the contralateral rule's stream pairs them (contralateral_stream.py): by the
DICOM StudyInstanceUID and view, the side from the laterality tag or the image content. A PNG
(no study), a study with one breast in a view, or a view with two images of one side gets an
empty second channel, as training's ``other_breast_dropout`` taught the model to read. When
the next image belongs to another study, everything held goes on, so at most one study's
images wait: keep a study's files together (as PACS exports and folders per study do).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mammorcnn.engine.inference.predictor import PreparedImage


@dataclass
class WaitingImage:
    """One prepared film waiting for its other breast."""

    image_id: int
    name: str
    item: PreparedImage  # item.image is the film alone (SxS)


def with_partner(waiting: WaitingImage, partner: np.ndarray | None) -> WaitingImage:
    """The image with the 2xSxS input: its film, then ``partner`` (zeros when None)."""
    film = waiting.item.image
    other = np.zeros_like(film) if partner is None else partner
    item = replace(waiting.item, image=np.stack([film, other]))
    return WaitingImage(waiting.image_id, waiting.name, item)


class OtherBreastPairing:
    """Pairs films as they come; :meth:`add` and :meth:`flush` return those ready to predict."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], dict[str, WaitingImage]] = {}
        self.ambiguous: set[tuple[str, str]] = set()  # a view with two images of one side
        self.study: str | None = None
        self.unpaired = 0  # how many went on with an empty second channel

    def add(self, image: WaitingImage) -> list[WaitingImage]:
        """Hold ``image`` or release it (and what it completes or displaces)."""
        study = image.item.meta.get("StudyInstanceUID")
        side = image.item.record.laterality
        if not study or side not in ("L", "R"):
            return [self._alone(image)]
        released = self.flush() if self.study not in (None, study) else []
        self.study = study
        key = (str(study), str(image.item.meta.get("view") or "").upper())
        group = self.waiting.setdefault(key, {})
        if key in self.ambiguous or side in group:
            # which of two same-side images is the partner is unknown: this view pairs nothing
            self.ambiguous.add(key)
            held = list(self.waiting.pop(key).values())
            return released + [self._alone(w) for w in [*held, image]]
        other = group.pop("R" if side == "L" else "L", None)
        if other is None:
            group[side] = image
            return released
        return released + [
            with_partner(other, image.item.image),
            with_partner(image, other.item.image),
        ]

    def flush(self) -> list[WaitingImage]:
        """Release every held image with an empty second channel (no other breast came)."""
        released = [self._alone(w) for group in self.waiting.values() for w in group.values()]
        self.waiting.clear()
        self.ambiguous.clear()
        return released

    def _alone(self, image: WaitingImage) -> WaitingImage:
        self.unpaired += 1
        return with_partner(image, None)
