"""The other breast as a second input channel while `predict` goes through files.

A model trained with ``data.preprocess.other_breast`` reads each film with the same woman's
other breast in the same view (docs/training.md, "The other breast"). `predict` reads files
one at a time, so a film is held (preprocessed, before the model runs) until its partner
arrives; then both go on, each with the other's preprocessed film as its second channel.
Images pair as for the contralateral rule (study_pairing.py: by study and view). An image
without a partner gets an empty second channel, as training's ``other_breast_dropout`` taught
the model to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mammorcnn.engine.inference.predictor import PreparedImage
from mammorcnn.engine.inference.study_pairing import StudyPairing


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
        self.pairing: StudyPairing[WaitingImage] = StudyPairing()
        self.unpaired = 0  # how many went on with an empty second channel

    def add(self, image: WaitingImage) -> list[WaitingImage]:
        """Hold ``image`` or release it (and what it completes or displaces)."""
        return self._release(self.pairing.add(image))

    def flush(self) -> list[WaitingImage]:
        """Release every held image with an empty second channel (no other breast came)."""
        return self._release(self.pairing.flush())

    def _release(self, ready: list[tuple[WaitingImage, WaitingImage | None]]) -> list[WaitingImage]:
        released = []
        for image, other in ready:
            if other is None:
                self.unpaired += 1
                released.append(with_partner(image, None))
            else:
                released += [
                    with_partner(other, image.item.image),
                    with_partner(image, other.item.image),
                ]
        return released
