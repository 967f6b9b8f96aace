"""Per-image outputs of `predict`: mask PNG, overlay PNG, DICOM SEG, and the JSON entries.

File names are ``<name>_mask.png``, ``<name>_overlay.png`` and ``<name>_seg.dcm`` where
``name`` comes from `unique_output_names` (sanitised, unique), and every path is re-checked by
`safe_output_path`, so no input name can make a file land outside the output folder.
Each writer is atomic: a crash leaves complete files only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.engine.inference.predictions_file import image_entry
from mammorcnn.engine.inference.predictor import PreparedImage
from mammorcnn.engine.outputs import (
    Detections,
    coco_results,
    label_mask,
    safe_output_path,
    write_mask_png,
    write_overlay_png,
)
from mammorcnn.errors import InputError, MammoError

MAX_LABELS = 255


class ImageWriter:
    """Writes one image's files and collects the predictions file's entries."""

    def __init__(self, out: Path, loaded: LoadedModel, seg: bool = True, overlay: bool = True):
        self.out = Path(out)
        self.seg = seg
        self.overlay = overlay
        self.category_ids = {k + 1: cid for k, cid in enumerate(loaded.category_ids)}
        self.class_names = list(loaded.class_names)
        self.images: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    def _path(self, name: str, suffix: str) -> Path:
        return safe_output_path(self.out, f"{name}{suffix}")

    def write(
        self,
        image_id: int,
        name: str,
        item: PreparedImage,
        det: Detections,
        on_seg_error: Callable[[MammoError], None],
    ) -> None:
        """Write the files of one image. A SEG that cannot be made goes to ``on_seg_error``
        first (which raises in strict mode, before any file of this image is written)."""
        outputs: dict[str, str | None] = {"mask": None, "overlay": None, "seg": None}
        try:
            if self.seg and item.meta.get("kind") == "dicom" and len(det) and det.masks is not None:
                from mammorcnn.engine.outputs.dicom_seg import write_dicom_seg

                try:
                    path = write_dicom_seg(
                        item.source, det.masks, det.scores, self._path(name, "_seg.dcm"),
                        class_names=[self.class_names[int(k) - 1] for k in det.labels],
                    )  # fmt: skip
                    outputs["seg"] = None if path is None else path.name
                except MammoError as error:
                    on_seg_error(error)
            # An 8-bit label map holds 255 detections; they come best first.
            top = det.keep(np.arange(min(len(det), MAX_LABELS)))
            mask = label_mask(top, image_shape=item.record.original_shape)
            outputs["mask"] = write_mask_png(mask, self._path(name, "_mask.png")).name
            if self.overlay and item.pixels is not None:
                names = self.class_names if len(self.class_names) > 1 else None
                path = write_overlay_png(
                    item.pixels, det, self._path(name, "_overlay.png"), class_names=names
                )
                outputs["overlay"] = path.name
        except OSError as error:  # disk full, permissions: an output problem, always fatal
            where = getattr(error, "filename", None) or self.out
            raise InputError(where, f"cannot write output ({error.strerror or error})") from None
        self.results += coco_results(image_id, det, self.category_ids)
        self.images.append(
            image_entry(
                image_id, item.source, item.record, item.meta.get("kind"), outputs, len(det)
            )
        )
