"""The COCO builder every converter fills: it either raises on the first bad item or skips
the whole image it belongs to, marks images holding findings of unselected types, and writes.

A bad lesion drops its whole image, never just the lesion: an image kept with one of its
lesions missing would teach the model that the lesion is background (a faked negative). For
the same reason an image whose findings are all of unselected types is marked
(``has_other_findings``) instead of looking like a normal mammogram.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.data.coco import BOX_ONLY, mask_to_rle, validate_coco, write_coco, write_json_atomic
from mammorcnn.data.convert.common import ConvertReport, check_options, normalize_view
from mammorcnn.data.convert.output import cause_of, relative_to, skip_summary, write_splits
from mammorcnn.errors import AnnotationError

OTHER_FINDINGS = "has_other_findings"


class CocoBuilder:
    """Collects images and annotations keyed by a source-specific image key."""

    def __init__(
        self,
        fmt: str,
        out_json: Path,
        lesion_types: tuple[str, ...],
        class_mapping: str,
        skip_bad: bool,
        official_split: bool = False,
    ) -> None:
        check_options(lesion_types, class_mapping)
        self.out_json, self.skip_bad = Path(out_json), skip_bad
        self.lesion_types, self.class_mapping = tuple(lesion_types), class_mapping
        self.official_split = official_split
        names = list(lesion_types) if class_mapping == "mass" else ["benign", "malignant"]
        self.categories = [
            {"id": i + 1, "name": n, "supercategory": "lesion"} for i, n in enumerate(names)
        ]
        self.report = ConvertReport(fmt, self.out_json)
        self.images: dict[str, dict] = {}
        self.anns: dict[str, list[dict]] = {}
        self.other: dict[str, set[str]] = {}
        self.bad: set[str] = set()

    def wants(self, lesion_type: str | None, name: str = "", key: str | None = None) -> bool:
        """Is this finding selected? Counts the ones that are not, by name, for the report,
        and notes them on image ``key`` (``unknown`` when the type is not known)."""
        if lesion_type in self.lesion_types:
            return True
        label = name or str(lesion_type)
        self.report.ignored[label] = self.report.ignored.get(label, 0) + 1
        if key is not None:
            self.note_other(key, lesion_type or "unknown")
        return False

    def note_other(self, key: str, lesion_type: str) -> None:
        """Image ``key`` holds a finding that is not among its annotations."""
        self.other.setdefault(key, set()).add(lesion_type)

    def count_unknown(self, what: str) -> None:
        """A name outside the vocabulary (ROI name, view): reported once with its count."""
        self.report.unknown[what] = self.report.unknown.get(what, 0) + 1

    def view(self, text: str | None) -> str | None:
        """The view in the shared vocabulary; an unknown one is counted, not stored."""
        view = normalize_view(text)
        if view is None and text and text.strip():
            self.count_unknown(f"view {text.strip()!r}")
        return view

    def label(self, lesion_type: str, pathology: str | None) -> int | None:
        """Category id of a selected finding; None when the mapping needs an unknown pathology."""
        if self.class_mapping == "mass":
            return self.lesion_types.index(lesion_type) + 1
        return {"benign": 1, "malignant": 2}.get(pathology or "")

    def fail(
        self,
        key: str | None,
        where: str | os.PathLike[str],
        problem: str,
        cause: str | None = None,
    ) -> None:
        """Strict: raise. skip_bad: record, and drop the image ``key`` at the end."""
        if not self.skip_bad:
            raise AnnotationError(where, problem)
        self.leave_out(key, where, problem, cause)

    def leave_out(
        self,
        key: str | None,
        where: str | os.PathLike[str],
        problem: str,
        cause: str | None = None,
    ) -> None:
        """Drop image ``key``, in either mode: for known gaps of a dataset (mini-MIAS rows
        without coordinates), not for broken files. Summarised by cause when finishing."""
        entry = {"file": str(where), "image": key, "problem": problem}
        self.report.skipped.append({**entry, "cause": cause or cause_of(problem)})
        if key is not None:
            self.bad.add(key)

    def add_image(self, key: str, path: Path, height: int, width: int, **extra: Any) -> None:
        """Register an image once (later calls with the same key are ignored)."""
        if key in self.images:
            return
        extra = {k: v for k, v in extra.items() if v is not None}
        self.images[key] = {
            "file_name": relative_to(path, self.out_json),
            "width": width,
            "height": height,
            **extra,
        }
        self.anns.setdefault(key, [])

    def add_mask(self, key: str, mask: np.ndarray, category_id: int, **extra: Any) -> bool:
        """Add a mask annotation; False (nothing added) when the mask is empty."""
        if not mask.any():
            return False
        rle = mask_to_rle(mask)
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        ann = {"category_id": category_id, "segmentation": rle, "bbox": bbox}
        self.anns[key].append({**ann, "area": int(mask.sum()), **extra})
        return True

    def add_polygon(self, key: str, xy: list[float], category_id: int, **extra: Any) -> bool:
        """Add a polygon (x0, y0, x1, y1, ...) clipped to the image; False when it is empty."""
        img = self.images[key]
        h, w = img["height"], img["width"]
        pts = np.asarray(xy, np.float64).reshape(-1, 2).clip(0, [w, h])
        flat = [float(v) for v in pts.ravel()]
        rle = mask_utils.merge(mask_utils.frPyObjects([flat], h, w))
        area = int(mask_utils.area(rle))
        if area == 0:
            return False
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        ann = {"category_id": category_id, "segmentation": [flat], "bbox": bbox, "area": area}
        self.anns[key].append({**ann, **extra})
        return True

    def add_box(self, key: str, xyxy: list[float], category_id: int, **extra: Any) -> bool:
        """Add a box-only annotation clipped to the image; False when nothing is left."""
        img = self.images[key]
        x1, y1 = max(xyxy[0], 0.0), max(xyxy[1], 0.0)
        x2, y2 = min(xyxy[2], img["width"]), min(xyxy[3], img["height"])
        if not (x2 > x1 and y2 > y1):
            return False
        box = [x1, y1, x2 - x1, y2 - y1]
        ann = {"category_id": category_id, "bbox": box, "area": box[2] * box[3], BOX_ONLY: True}
        self.anns[key].append({**ann, **extra})
        return True

    def _collect(self) -> tuple[list[dict], list[dict]]:
        """Numbered images and annotations, without the bad images, others' findings marked."""
        images, anns = [], []
        for key, img in self.images.items():
            if key in self.bad:
                continue
            img = {"id": len(images) + 1, **img}
            if self.other.get(key):
                img[OTHER_FINDINGS] = sorted(self.other[key])
            images.append(img)
            for ann in self.anns[key]:
                anns.append({"id": len(anns) + 1, "image_id": img["id"], "iscrowd": 0, **ann})
        return images, anns

    def finish(self) -> ConvertReport:
        """Number, validate (a converter bug must not write a bad file) and write atomically."""
        r = self.report
        if r.skipped:
            where = r.out_json.parent / "skipped.json"
            warnings.warn("\n".join(skip_summary(r.skipped, str(where))), stacklevel=2)
        images, anns = self._collect()
        if not images:
            raise AnnotationError(r.out_json, f"{r.format}: no usable images found to convert")
        coco = {
            "info": {"description": f"converted from {r.format} by mammorcnn"},
            "images": images,
            "annotations": anns,
            "categories": self.categories,
        }
        validate_coco(coco, r.out_json)
        write_coco(coco, r.out_json)
        r.n_images, r.n_annotations = len(images), len(anns)
        positive = {a["image_id"] for a in anns}
        r.n_negative_images = len(images) - len(positive)
        r.n_other_findings_only = sum(
            1 for i in images if i["id"] not in positive and i.get(OTHER_FINDINGS)
        )
        r.n_box_only = sum(1 for a in anns if a.get(BOX_ONLY))
        for cat in self.categories:
            r.per_category[cat["name"]] = sum(a["category_id"] == cat["id"] for a in anns)
        for img in images:
            if img.get("split"):
                r.per_split[img["split"]] = r.per_split.get(img["split"], 0) + 1
        if self.official_split:
            r.split_files = write_splits(coco, r.out_json)
        if self.skip_bad or r.skipped:
            r.skipped_json = write_json_atomic(r.skipped, r.out_json.parent / "skipped.json")
        return r
