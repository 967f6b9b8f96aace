"""mammorcnn.data: mammograms in (DICOM/PNG/TIFF/PGM + COCO JSON), model tensors out.

Names are imported lazily so that ``import mammorcnn.data`` stays cheap (no torch, pydicom or
pycocotools until used), and so that a module whose optional dependency is missing does not
break the import of the others.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS = {
    "MAX_PIXELS": "mammorcnn.data.io",
    "RawImage": "mammorcnn.data.io",
    "read_image": "mammorcnn.data.io",
    "PreprocessConfig": "mammorcnn.data.preprocess",
    "PreprocessRecord": "mammorcnn.data.preprocess",
    "AugmentConfig": "mammorcnn.data.augment",
    "Augmentation": "mammorcnn.data.augment",
    "DataConfig": "mammorcnn.data.config",
    "CocoMammoDataset": "mammorcnn.data.dataset",
    "collate_fn": "mammorcnn.data.dataset",
    "PreprocessCache": "mammorcnn.data.cache",
    "load_coco": "mammorcnn.data.coco",
    "generate_phantom_dataset": "mammorcnn.data.synthetic",
    "convert_dataset": "mammorcnn.data.convert",
}

__all__ = sorted([*_EXPORTS, "preprocess"])

# The subpackage `preprocess` shares its name with the function it exports, and importing any
# of its modules binds the *module* as this package's attribute (so the lazy lookup below would
# never run for it). Bind the function eagerly; its modules stay importable by their paths.
from mammorcnn.data.preprocess.pipeline import preprocess as preprocess  # noqa: E402


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mammorcnn.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
