"""``mammorcnn convert``: public dataset annotations -> one validated COCO JSON.

Each format has its own small module; this is the one place a format name becomes a function.
Every path in the output points at an original file relative to the JSON's folder (``../`` where
needed), so a dataset folder moved with its JSON still works; images carry ``patient_id`` for
:func:`mammorcnn.data.split` and, where the dataset has one, their official ``split``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from mammorcnn.data.coco import load_coco, write_coco, write_json_atomic
from mammorcnn.data.convert.builder import OTHER_FINDINGS, CocoBuilder
from mammorcnn.data.convert.cbis import convert_cbis
from mammorcnn.data.convert.common import CLASS_MAPPINGS, LESION_TYPES, VIEWS, ConvertReport
from mammorcnn.data.convert.inbreast import convert_inbreast
from mammorcnn.data.convert.mias import convert_mias
from mammorcnn.data.convert.output import relative_to, skip_summary, write_splits
from mammorcnn.data.convert.vindr import convert_vindr
from mammorcnn.errors import AnnotationError, ConfigError


def _convert_coco(
    src: Path, out_json: Path, skip_bad: bool, official_split: bool, report: ConvertReport
) -> ConvertReport:
    """COCO in, COCO out: validated (image files must exist), paths re-based to the output."""
    if not src.is_file():
        raise AnnotationError(src, "expected a COCO JSON file")
    with warnings.catch_warnings():  # one summary by cause below, not a warning per item
        warnings.simplefilter("ignore")
        coco = load_coco(src, root=src.parent, skip_bad=skip_bad, skipped=report.skipped)
    if report.skipped:
        where = str(out_json.parent / "skipped.json")
        warnings.warn("\n".join(skip_summary(report.skipped, where)), stacklevel=3)
    for img in coco["images"]:
        img["file_name"] = relative_to(src.parent / img["file_name"], out_json)
    write_coco(coco, out_json)
    if official_split:  # the images' own ``split`` fields
        report.split_files = write_splits(coco, out_json)
    report.n_images, report.n_annotations = len(coco["images"]), len(coco["annotations"])
    positive = {a["image_id"] for a in coco["annotations"]}
    report.n_negative_images = report.n_images - len(positive)
    report.n_other_findings_only = sum(
        1 for i in coco["images"] if i["id"] not in positive and i.get(OTHER_FINDINGS)
    )
    report.n_box_only = sum(1 for a in coco["annotations"] if a.get("mammorcnn_box_only"))
    for cat in coco["categories"]:
        n = sum(a["category_id"] == cat["id"] for a in coco["annotations"])
        report.per_category[cat["name"]] = n
    if skip_bad or report.skipped:
        report.skipped_json = write_json_atomic(report.skipped, out_json.parent / "skipped.json")
    return report


# Formats whose publisher fixes a train/test split (written as each image's ``split``).
OFFICIAL_SPLITS = ("cbis-ddsm", "vindr-mammo", "coco")
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
    official_split: bool = False,
) -> ConvertReport:
    """Convert dataset ``src`` (its folder, or its annotation file) in format ``fmt``.

    ``lesion_types`` selects findings (``mass``, ``calcification``, ...; see
    :data:`LESION_TYPES`); ``class_mapping`` "mass" gives one class per selected lesion type,
    "pathology" the classes benign and malignant. Strict by default: the first bad item raises
    an :class:`AnnotationError` naming the file and problem. With ``skip_bad`` each image with
    a bad item is left out, summarised by cause in one warning, and listed in ``skipped.json``
    beside the output. ``official_split`` also writes ``<stem>_train.json`` and
    ``<stem>_test.json`` from the dataset's own split (CBIS-DDSM, VinDr-Mammo).
    """
    names = {_squash(name): name for name in FORMATS}  # "mini_MIAS", "MiniMIAS" also match
    key = names.get(_squash(fmt))
    if key is None:
        raise ConfigError(f"unknown dataset format {fmt!r}; choose from {sorted(FORMATS)}")
    if official_split and key not in OFFICIAL_SPLITS:
        raise ConfigError(f"{key} has no official split; formats with one: {OFFICIAL_SPLITS}")
    src, out_json = Path(src), Path(out_json)
    if not src.exists():
        raise AnnotationError(src, "not found")
    builder = CocoBuilder(
        key, out_json, tuple(lesion_types), class_mapping, skip_bad, official_split
    )
    convert = FORMATS[key]
    if convert is None:
        return _convert_coco(src, out_json, skip_bad, official_split, builder.report)
    convert(src, builder)
    return builder.finish()


__all__ = [
    "CLASS_MAPPINGS",
    "FORMATS",
    "LESION_TYPES",
    "OFFICIAL_SPLITS",
    "OTHER_FINDINGS",
    "VIEWS",
    "ConvertReport",
    "convert_dataset",
]
