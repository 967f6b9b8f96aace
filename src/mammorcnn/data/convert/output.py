"""What a conversion writes besides the COCO file: paths relative to it, a summary of the
skipped images by cause (a partial download must not print one warning per missing file), and
the dataset's official split as ``<stem>_<split>.json``."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from mammorcnn.data.coco import write_coco
from mammorcnn.errors import AnnotationError

EXAMPLES = 3  # examples per cause in the skip summary


def relative_to(path: str | os.PathLike[str], out_json: Path) -> str:
    """``path`` relative to the JSON's folder (``../`` where needed), so a dataset folder and
    its JSON can be moved together; absolute only where no relative path exists (another
    Windows drive)."""
    base = os.path.abspath(Path(out_json).parent)
    try:
        return Path(os.path.relpath(os.path.abspath(path), base)).as_posix()
    except ValueError:
        return str(Path(os.path.abspath(path)))


def cause_of(problem: str) -> str:
    """The kind of a problem: the message with its names, paths and numbers blanked, so that
    3,000 missing files are one cause."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", problem)
    text = re.sub(r"\[[^\]]*\]", "[…]", text)
    text = re.sub(r"(?<!\S)(?:[/\\.~]|\w:)\S*|\S*[/\\]\S*\.\w+\S*", "…", text)  # paths
    return re.sub(r"\d+(\.\d+)?", "N", text)


def skip_summary(skipped: list[dict[str, Any]], where: str) -> list[str]:
    """One line per cause: the count and a few examples; every case is in skipped.json."""
    by_cause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in skipped:
        by_cause[entry.get("cause") or cause_of(entry["problem"])].append(entry)
    lines = [f"{len(skipped)} item(s) left out, every one listed in {where}:"]
    for cause, entries in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
        examples = "; ".join(f"{_short(e['file'])}: {e['problem']}" for e in entries[:EXAMPLES])
        lines.append(f"  {len(entries)} x {cause} (e.g. {examples})")
    return lines


def _short(where: str) -> str:
    """``/long/path/finding_annotations.csv (line 6)`` -> ``finding_annotations.csv (line 6)``."""
    return Path(where).name if "\n" not in where else where


def write_splits(coco: dict, out_json: Path) -> dict[str, Path]:
    """``<stem>_<split>.json`` per value of the images' ``split`` field (ids kept, like
    ``mammorcnn split``, so a prediction can be traced back to the full file)."""
    names: dict[str, list[dict]] = defaultdict(list)
    for img in coco["images"]:
        if not img.get("split"):
            raise AnnotationError(out_json, f"image {img['file_name']} has no official split")
        names[img["split"]].append(img)
    paths = {}
    for name, images in sorted(names.items()):
        ids = {img["id"] for img in images}
        anns = [a for a in coco["annotations"] if a["image_id"] in ids]
        info = {**coco.get("info", {}), "split": name, "source": out_json.name}
        part = {**coco, "info": info, "images": images, "annotations": anns}
        paths[name] = write_coco(part, out_json.parent / f"{out_json.stem}_{name}.json")
    return paths
