"""What every converter shares: options, the class mapping, one vocabulary of views, and the
report of what a conversion produced (the COCO builder is in :mod:`.builder`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mammorcnn.errors import ConfigError

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


# Mammographic view codes (DICOM ViewPosition, ACR names): one vocabulary for every converter.
VIEWS = ("CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV")
_VIEW_WORDS = {
    "CRANIOCAUDAL": "CC",
    "CRANIO-CAUDAL": "CC",
    "MEDIOLATERAL OBLIQUE": "MLO",
    "MEDIO-LATERAL OBLIQUE": "MLO",
    "MEDIOLATERAL": "ML",
    "MEDIO-LATERAL": "ML",
    "LATEROMEDIAL": "LM",
    "LATERO-MEDIAL": "LM",
}


def normalize_view(text: str | None) -> str | None:
    """A view as a dataset writes it -> a code of :data:`VIEWS` (None when unknown).

    Accepts the codes in any case, the spelled-out names, and a laterality prefix
    (``RMLO``, ``L-CC``, ``R CC``) as some files put it; ``LM`` stays the latero-medial view.
    """
    v = " ".join((text or "").strip().upper().replace("_", " ").split())
    if v in VIEWS:
        return v
    if v in _VIEW_WORDS:
        return _VIEW_WORDS[v]
    m = re.fullmatch(r"[LR][- ]?([A-Z]+)", v)
    return m.group(1) if m and m.group(1) in VIEWS else None


@dataclass
class ConvertReport:
    """What a conversion produced and what it left out (and why)."""

    format: str
    out_json: Path
    n_images: int = 0
    n_negative_images: int = 0
    n_other_findings_only: int = 0  # lesion-free images that hold findings of other types
    n_annotations: int = 0
    n_box_only: int = 0
    per_category: dict[str, int] = field(default_factory=dict)
    per_split: dict[str, int] = field(default_factory=dict)  # images per official split
    ignored: dict[str, int] = field(default_factory=dict)  # findings of unselected types
    unknown: dict[str, int] = field(default_factory=dict)  # names not in the vocabulary
    notes: list[str] = field(default_factory=list)  # what the numbers rest on (once each)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_json: Path | None = None
    split_files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for the CLI."""
        out = dict(self.__dict__)
        out["out_json"] = str(self.out_json)
        out["skipped_json"] = None if self.skipped_json is None else str(self.skipped_json)
        out["split_files"] = {k: str(v) for k, v in self.split_files.items()}
        return out

    def note(self, text: str) -> None:
        """Add a note once."""
        if text not in self.notes:
            self.notes.append(text)
