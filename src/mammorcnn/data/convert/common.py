"""What every converter shares: options, the class mapping, and a COCO builder that either
raises on the first bad item or skips the whole image it belongs to.

A bad lesion drops its whole image, never just the lesion: an image kept with one of its
lesions missing would teach the model that the lesion is background (a faked negative).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from mammorcnn.data.coco import BOX_ONLY, mask_to_rle, validate_coco, write_coco, write_json_atomic
from mammorcnn.errors import AnnotationError, ConfigError

LESION_TYPES = ("mass", "calcification", "architectural_distortion", "asymmetry")
CLASS_MAPPINGS = ("mass", "pathology")
_PATHOLOGY = {
    "benign": "benign",
    "benign_without_callback": "benign",  # CBIS-DDSM: benign, no follow-up recall needed
    "b": "benign",  # mini-MIAS severity
    "malignant": "malignant",
    "m": "malignant",
}


def normalize_pathology(value: str) -> str | None:
    """CBIS/MIAS pathology words -> "benign" / "malignant" (None when unknown)."""
    return _PATHOLOGY.get(value.strip().lower().replace(" ", "_"))


def birads_pathology(value: str) -> str | None:
    """BI-RADS category -> pathology for datasets without biopsy results (INbreast, VinDr):
    1-3 benign, 4-6 malignant (the usual convention in published INbreast work)."""
    m = re.search(r"([0-6])\s*[a-c]?\s*$", value.strip(), re.IGNORECASE)
    if not m:
        return None
    return "malignant" if int(m.group(1)) >= 4 else "benign"


def check_options(lesion_types: tuple[str, ...], class_mapping: str) -> None:
    """Refuse unknown option values with the accepted ones named."""
    unknown = [t for t in lesion_types if t not in LESION_TYPES]
    if unknown or not lesion_types:
        raise ConfigError(f"lesion_types {list(lesion_types)}: choose from {list(LESION_TYPES)}")
    if class_mapping not in CLASS_MAPPINGS:
        raise ConfigError(f"class_mapping {class_mapping!r}: choose from {list(CLASS_MAPPINGS)}")


@dataclass
class ConvertReport:
    """What a conversion produced and what it left out (and why)."""

    format: str
    out_json: Path
    n_images: int = 0
    n_negative_images: int = 0
    n_annotations: int = 0
    n_box_only: int = 0
    per_category: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)  # findings of unselected types
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_json: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for the CLI."""
        out = dict(self.__dict__)
        out["out_json"] = str(self.out_json)
        out["skipped_json"] = None if self.skipped_json is None else str(self.skipped_json)
        return out


class CocoBuilder:
    """Collects images and annotations keyed by a source-specific image key."""

    def __init__(
        self,
        fmt: str,
        out_json: Path,
        lesion_types: tuple[str, ...],
        class_mapping: str,
        skip_bad: bool,
    ) -> None:
        check_options(lesion_types, class_mapping)
        self.out_json, self.skip_bad = Path(out_json), skip_bad
        self.lesion_types, self.class_mapping = tuple(lesion_types), class_mapping
        names = list(lesion_types) if class_mapping == "mass" else ["benign", "malignant"]
        self.categories = [
            {"id": i + 1, "name": n, "supercategory": "lesion"} for i, n in enumerate(names)
        ]
        self.report = ConvertReport(fmt, self.out_json)
        self.images: dict[str, dict] = {}
        self.anns: dict[str, list[dict]] = {}
        self.bad: set[str] = set()

    def wants(self, lesion_type: str | None, name: str = "") -> bool:
        """Is this finding selected? Counts the ones that are not, by name, for the report."""
        if lesion_type in self.lesion_types:
            return True
        key = name or str(lesion_type)
        self.report.ignored[key] = self.report.ignored.get(key, 0) + 1
        return False

    def label(self, lesion_type: str, pathology: str | None) -> int | None:
        """Category id of a selected finding; None when the mapping needs an unknown pathology."""
        if self.class_mapping == "mass":
            return self.lesion_types.index(lesion_type) + 1
        return {"benign": 1, "malignant": 2}.get(pathology or "")

    def fail(self, key: str | None, where: str | os.PathLike[str], problem: str) -> None:
        """Strict: raise. skip_bad: warn, record, and drop the image ``key`` at the end."""
        if not self.skip_bad:
            raise AnnotationError(where, problem)
        self.leave_out(key, where, problem)

    def leave_out(self, key: str | None, where: str | os.PathLike[str], problem: str) -> None:
        """Drop image ``key`` with a warning and a skipped-list entry, in either mode: for
        known gaps of a dataset (mini-MIAS rows without coordinates), not for broken files."""
        warnings.warn(f"{where}: skipped: {problem}", stacklevel=2)
        self.report.skipped.append({"file": str(where), "image": key, "problem": problem})
        if key is not None:
            self.bad.add(key)

    def add_image(self, key: str, path: Path, height: int, width: int, **extra: Any) -> None:
        """Register an image once (later calls with the same key are ignored)."""
        if key in self.images:
            return
        path = Path(os.path.abspath(path))
        base = Path(os.path.abspath(self.out_json.parent))
        name = os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
        self.images[key] = {"file_name": name, "width": width, "height": height, **extra}
        self.anns.setdefault(key, [])

    def add_mask(self, key: str, mask: np.ndarray, category_id: int, **extra: Any) -> bool:
        """Add a mask annotation; False (nothing added) when the mask is empty."""
        if not mask.any():
            return False
        rle = mask_to_rle(mask)
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        area = int(mask.sum())
        self.anns[key].append(
            {"category_id": category_id, "segmentation": rle, "bbox": bbox, "area": area, **extra}
        )
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
        self.anns[key].append(
            {
                "category_id": category_id,
                "segmentation": [flat],
                "bbox": bbox,
                "area": area,
                **extra,
            }
        )
        return True

    def add_box(self, key: str, xyxy: list[float], category_id: int, **extra: Any) -> bool:
        """Add a box-only annotation clipped to the image; False when nothing is left."""
        img = self.images[key]
        x1, y1 = max(xyxy[0], 0.0), max(xyxy[1], 0.0)
        x2, y2 = min(xyxy[2], img["width"]), min(xyxy[3], img["height"])
        if not (x2 > x1 and y2 > y1):
            return False
        box = [x1, y1, x2 - x1, y2 - y1]
        self.anns[key].append(
            {
                "category_id": category_id,
                "bbox": box,
                "area": box[2] * box[3],
                BOX_ONLY: True,
                **extra,
            }
        )
        return True

    def finish(self) -> ConvertReport:
        """Number, validate (a converter bug must not write a bad file) and write atomically."""
        images, anns = [], []
        for key, img in self.images.items():
            if key in self.bad:
                continue
            images.append({"id": len(images) + 1, **img})
            for ann in self.anns[key]:
                anns.append({"id": len(anns) + 1, "image_id": len(images), "iscrowd": 0, **ann})
        r = self.report
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
        r.n_negative_images = len(images) - len({a["image_id"] for a in anns})
        r.n_box_only = sum(1 for a in anns if a.get(BOX_ONLY))
        for cat in self.categories:
            r.per_category[cat["name"]] = sum(a["category_id"] == cat["id"] for a in anns)
        if self.skip_bad or r.skipped:
            r.skipped_json = write_json_atomic(r.skipped, r.out_json.parent / "skipped.json")
        return r
