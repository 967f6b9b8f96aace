"""index.html of `mammorcnn predict`: the overlays grouped by study and breast, best first.

A reader looks at a breast in both views at once, so the CC and MLO of one side sit next to
each other. The study comes from the DICOM StudyInstanceUID (for CBIS-DDSM, one study per
image, the woman its PatientID names); for other files from the file name without its side and
view tokens (``P_00001_LEFT_CC`` and ``P_00001_LEFT_MLO`` -> study ``P_00001``, side L). Side:
the DICOM tags or, failing those, the preprocessing's decision; view: ViewPosition (CBIS-DDSM:
PatientOrientation) or a file-name token. Studies, and breasts within them, are ordered by
their highest detection score.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.data.io.dicom import cbis_exam, header_view
from mammorcnn.data.io.raw import view_from_text
from mammorcnn.engine.report.html import esc, meta_table, num, page

PAGE_FILE = "index.html"
FILES_DIR = "index_files"
THUMB_SIDE = 384
_SIDE_TOKENS = {"L": "L", "R": "R", "LEFT": "L", "RIGHT": "R"}
_VIEW_ORDER = {"CC": 0, "MLO": 1}


def _dicom_tags(path: Path) -> dict[str, str]:
    """StudyInstanceUID, ImageLaterality/Laterality, the view and CBIS-DDSM's ``exam`` (the
    woman, whose films each have a study of their own) from the header only, read as the
    image reader reads them (data/io/dicom.py)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - grouping falls back to the file name
        return {}
    keys = ("StudyInstanceUID", "ImageLaterality", "Laterality")
    tags = {k: str(ds.get(k, "") or "").strip() for k in keys}
    tags["view"] = header_view(ds)[0] or ""
    tags["exam"] = cbis_exam(ds) or ""
    return tags


def image_place(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(study, side L/R/?, view) of a predictions.json image entry (see the module doc)."""
    path = Path(entry.get("file") or "")
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", path.stem) if t]
    upper = [t.upper() for t in tokens]
    tags = _dicom_tags(path) if entry.get("kind") == "dicom" else {}
    side = next((_SIDE_TOKENS[t] for t in upper if t in _SIDE_TOKENS), None)
    for key in ("ImageLaterality", "Laterality"):
        if tags.get(key, "").upper() in ("L", "R"):
            side = tags[key].upper()
            break
    side = side or (entry.get("preprocess") or {}).get("laterality") or "?"
    view = tags.get("view") or view_from_text(path.stem) or "?"
    rest = [t for t, u in zip(tokens, upper) if u not in _SIDE_TOKENS and view_from_text(u) is None]
    study = tags.get("exam") or tags.get("StudyInstanceUID") or "_".join(rest) or path.stem or "?"
    return study, side, view


def _thumbnail(out: Path, overlay: str | None, image_id: int) -> tuple[str, tuple[int, int]] | None:
    """A small JPEG of the overlay PNG (a page of 1,000 full overlays would not scroll)."""
    if not overlay or not (out / overlay).is_file():
        return None
    with Image.open(out / overlay) as img:
        img = img.convert("RGB")
        img.thumbnail((THUMB_SIDE, THUMB_SIDE))
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=85)
    name = f"{FILES_DIR}/{int(image_id):06d}_thumb.jpg"
    atomic_write_bytes(out / name, buffer.getvalue())
    return name, img.size


def _figure(out: Path, entry: dict, view: str, best: float | None, kinds: str = "") -> str:
    thumb = _thumbnail(out, (entry.get("outputs") or {}).get("overlay"), entry["id"])
    if thumb is None:
        picture = "<p class='small'>no overlay written</p>"
    else:
        full = entry["outputs"]["overlay"]
        picture = (
            f'<a href="{esc(full)}" target="_blank"><img src="{esc(thumb[0])}" loading="lazy" '
            f'width="{thumb[1][0]}" height="{thumb[1][1]}" alt="overlay"></a>'
        )
    return (
        f'<figure class="card">{picture}<figcaption><div class="name">'
        f"{esc(Path(entry.get('file') or '').name)}</div><div class='small'>{esc(view)} · "
        f"{entry['n_detections']} detection(s), best {num(best, 2)}</div>"
        + (f"<div class='small'>{esc(kinds)}</div>" if kinds else "")
        + "</figcaption></figure>"
    )


def _kinds(data: dict) -> dict[int, str]:
    """Per image, how many detections of each class ("2 mass, 1 asymmetry"), for a model of
    several classes; {} for one class, where the count above says it all."""
    names = {c.get("id"): str(c.get("name")) for c in data.get("categories") or []}
    if len(names) < 2:
        return {}
    counts: dict[int, Counter] = defaultdict(Counter)
    for r in data.get("results", []):
        counts[r["image_id"]][names.get(r.get("category_id"), str(r.get("category_id")))] += 1
    return {
        image: ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in sorted(c.items()))
        for image, c in counts.items()
    }


def write_prediction_index(out_dir: Path, predictions_file: str = "predictions.json") -> Path:
    """Write index.html (and thumbnails) for the predictions file in ``out_dir``."""
    out = Path(out_dir)
    data = json.loads((out / predictions_file).read_text(encoding="utf-8"))
    best: dict[int, float] = {}
    for r in data.get("results", []):
        best[r["image_id"]] = max(best.get(r["image_id"], float("-inf")), float(r["score"]))
    kinds = _kinds(data)
    studies: dict[str, dict[str, list[tuple[str, dict]]]] = defaultdict(lambda: defaultdict(list))
    for entry in data.get("images", []):
        study, side, view = image_place(entry)
        studies[study][side].append((view, entry))

    def top(entries: list[tuple[str, dict]]) -> float:
        return max((best.get(e["id"], -1.0) for _, e in entries), default=-1.0)

    (out / FILES_DIR).mkdir(exist_ok=True)
    sections = []
    for study, sides in sorted(studies.items(), key=lambda kv: -max(map(top, kv[1].values()))):
        rows = []
        for side, entries in sorted(sides.items(), key=lambda kv: (-top(kv[1]), kv[0])):
            entries.sort(key=lambda ve: (_VIEW_ORDER.get(ve[0], 2), ve[0]))
            figures = "".join(
                _figure(out, e, v, best.get(e["id"]), kinds.get(e["id"], "")) for v, e in entries
            )
            rows.append(f"<h3>{esc({'L': 'left', 'R': 'right'}.get(side, 'side unknown'))}"
                        f" breast</h3><div class='row'>{figures}</div>")  # fmt: skip
        sections.append(f"<section><h2>study {esc(study)}</h2>{''.join(rows)}</section>")
    settings = data.get("settings") or {}
    info = meta_table(
        [
            ("score threshold", settings.get("score_threshold")),
            ("weights", (data.get("model") or {}).get("weights")),
            ("images", len(data.get("images", []))),
            ("detections", len(data.get("results", []))),
            ("mammorcnn version (predictions)", data.get("mammorcnn_version")),
        ]
    )
    body = (
        "<h1>mammorcnn predictions</h1>" + info
        + "<p class='small'>Overlays show every detection with score >= the threshold, grouped "
        "by study and breast (CC and MLO side by side), highest score first. Click a picture "
        "for the full overlay.</p>" + "".join(sections)
    )  # fmt: skip
    atomic_write_bytes(out / PAGE_FILE, page("mammorcnn predictions", body).encode("utf-8"))
    return out / PAGE_FILE
