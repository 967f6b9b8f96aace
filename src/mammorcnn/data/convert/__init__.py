"""``mammorcnn convert``: public dataset annotations -> one validated COCO JSON.

Each format has its own small module; this is the one place a format name becomes a function.
Output image entries point at the original files (relative to the JSON's folder when they lie
below it, absolute otherwise) and carry ``patient_id`` for :func:`mammorcnn.data.split`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mammorcnn.data.coco import load_coco, write_coco, write_json_atomic
from mammorcnn.data.convert.cbis import convert_cbis
from mammorcnn.data.convert.common import CLASS_MAPPINGS, LESION_TYPES, CocoBuilder, ConvertReport
from mammorcnn.data.convert.inbreast import convert_inbreast
from mammorcnn.data.convert.mias import convert_mias
from mammorcnn.data.convert.vindr import convert_vindr
from mammorcnn.errors import AnnotationError, ConfigError


def _convert_coco(
    src: Path, out_json: Path, skip_bad: bool, report: ConvertReport
) -> ConvertReport:
    """COCO in, COCO out: validated (image files must exist), paths re-based to the output."""
    if not src.is_file():
        raise AnnotationError(src, "expected a COCO JSON file")
    coco = load_coco(src, root=src.parent, skip_bad=skip_bad, skipped=report.skipped)
    base = Path(os.path.abspath(out_json.parent))
    for img in coco["images"]:
        path = Path(os.path.abspath(src.parent / img["file_name"]))
        img["file_name"] = os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
    write_coco(coco, out_json)
    report.n_images, report.n_annotations = len(coco["images"]), len(coco["annotations"])
    report.n_negative_images = report.n_images - len({a["image_id"] for a in coco["annotations"]})
    report.n_box_only = sum(1 for a in coco["annotations"] if a.get("mammorcnn_box_only"))
    for cat in coco["categories"]:
        n = sum(a["category_id"] == cat["id"] for a in coco["annotations"])
        report.per_category[cat["name"]] = n
    if skip_bad or report.skipped:
        report.skipped_json = write_json_atomic(report.skipped, out_json.parent / "skipped.json")
    return report


FORMATS: dict[str, Callable[[Path, CocoBuilder], None] | None] = {
    "cbis-ddsm": convert_cbis,
    "inbreast": convert_inbreast,
    "mini-mias": convert_mias,
    "vindr-mammo": convert_vindr,
    "coco": None,  # passed through by _convert_coco
}


def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def convert_dataset(
    fmt: str,
    src: str | os.PathLike[str],
    out_json: str | os.PathLike[str],
    *,
    lesion_types: Sequence[str] = ("mass",),
    class_mapping: str = "mass",
    skip_bad: bool = False,
) -> ConvertReport:
    """Convert dataset ``src`` (its folder, or its annotation file) in format ``fmt``.

    ``lesion_types`` selects findings (``mass``, ``calcification``, ...; see
    :data:`LESION_TYPES`); ``class_mapping`` "mass" gives one class per selected lesion type,
    "pathology" the classes benign and malignant. Strict by default: the first bad item raises
    an :class:`AnnotationError` naming the file and problem. With ``skip_bad`` each image with
    a bad item is left out, with a warning, and listed in ``skipped.json`` beside the output.
    """
    names = {_squash(name): name for name in FORMATS}  # "mini_MIAS", "MiniMIAS" also match
    key = names.get(_squash(fmt))
    if key is None:
        raise ConfigError(f"unknown dataset format {fmt!r}; choose from {sorted(FORMATS)}")
    src, out_json = Path(src), Path(out_json)
    if not src.exists():
        raise AnnotationError(src, "not found")
    builder = CocoBuilder(key, out_json, tuple(lesion_types), class_mapping, skip_bad)
    convert = FORMATS[key]
    if convert is None:
        return _convert_coco(src, out_json, skip_bad, builder.report)
    convert(src, builder)
    return builder.finish()


__all__ = ["CLASS_MAPPINGS", "FORMATS", "LESION_TYPES", "ConvertReport", "convert_dataset"]
