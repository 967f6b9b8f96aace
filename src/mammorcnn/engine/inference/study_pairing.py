"""Which images of a stream of files are one study's two breasts in one view.

`predict` reads files one at a time, so whatever needs a film's other breast (the contralateral
rule, contralateral_stream.py; the other-breast input channel, other_breast_stream.py) holds a
film until its partner arrives. Both pair the same way, here: by the DICOM StudyInstanceUID and
view, the side from the laterality tag or the image content (the preprocessing record).
CBIS-DDSM's DICOMs, one study per image, pair by the woman their PatientID names instead
(``meta["exam"]``, data/io/dicom.py). A PNG (no study), an unknown side, a study with one
breast in a view, or a view with two images of one side (which one is the partner is unknown)
gives no pair. When the next image belongs to another study, everything held is released, so at
most one study's images wait: keep a study's files together (as PACS exports and folders per
study do).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from mammorcnn.engine.inference.predictor import PreparedImage


class HasPreparedImage(Protocol):
    item: PreparedImage


T = TypeVar("T", bound=HasPreparedImage)


class StudyPairing(Generic[T]):
    """:meth:`add` and :meth:`flush` return what is ready: ``(entry, partner)`` for a pair,
    ``(entry, None)`` for an image that will have none."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], dict[str, T]] = {}
        self.ambiguous: set[tuple[str, str]] = set()  # a view with two images of one side
        self.study: str | None = None

    def add(self, entry: T) -> list[tuple[T, T | None]]:
        """Hold ``entry`` or release it (and what it completes or displaces)."""
        study = entry.item.meta.get("exam") or entry.item.meta.get("StudyInstanceUID")
        side = entry.item.record.laterality
        if not study or side not in ("L", "R"):
            return [(entry, None)]
        released = self.flush() if self.study not in (None, study) else []
        self.study = study
        key = (str(study), str(entry.item.meta.get("view") or "").upper())
        group = self.waiting.setdefault(key, {})
        if key in self.ambiguous or side in group:
            # which of two same-side images is the partner is unknown: this view pairs nothing
            self.ambiguous.add(key)
            held = list(self.waiting.pop(key).values())
            return released + [(h, None) for h in [*held, entry]]
        other = group.pop("R" if side == "L" else "L", None)
        if other is None:
            group[side] = entry
            return released
        return released + [(entry, other)]

    def flush(self) -> list[tuple[T, T | None]]:
        """Release every held image without a partner (none came)."""
        released: list[tuple[T, T | None]] = [
            (h, None) for group in self.waiting.values() for h in group.values()
        ]
        self.waiting.clear()
        self.ambiguous.clear()
        return released
