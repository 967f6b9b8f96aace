"""Train/val(/test) splits by patient, never by image.

Two views (and often both breasts) of one woman look alike; with her images on both sides of a
split the validation score measures memory, not detection. Patients with and without lesions
are assigned separately (stratified) so that every split gets positives to score.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mammorcnn.data.coco import load_coco, write_coco
from mammorcnn.errors import ConfigError

DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.2}


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    out = dict(fractions)
    for name, f in out.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
            raise ConfigError(f"split name {name!r}: use letters, digits, '_' or '-'")
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ConfigError(f"split {name!r}: fraction must be in (0, 1], got {f!r}")
    if not out or not math.isclose(sum(out.values()), 1.0, abs_tol=1e-6):
        raise ConfigError(f"split fractions must sum to 1, got {out}")
    return out


def assign_patients(
    sizes: Mapping[str, int], positive: set[str], fractions: Mapping[str, float], seed: int
) -> dict[str, str]:
    """Patient -> split name. Greedy by image count: each patient (in a seeded random order)
    goes to the split furthest below its target, positives and negatives separately."""
    fractions = _check_fractions(fractions)
    names = list(fractions)
    if len(sizes) < len(names):
        raise ConfigError(f"{len(sizes)} patient(s) cannot fill {len(names)} splits {names}")
    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    for stratum in (sorted(p for p in sizes if p in positive), sorted(set(sizes) - positive)):
        order = [stratum[i] for i in rng.permutation(len(stratum))]
        total = sum(sizes[p] for p in order)
        got = dict.fromkeys(names, 0)
        for p in order:
            best = max(names, key=lambda n: fractions[n] * total - got[n])
            out[p], got[best] = best, got[best] + sizes[p]
    for name in names:  # a tiny dataset: give an empty split the smallest patient of the largest
        if name not in out.values():
            counts = {n: sum(1 for v in out.values() if v == n) for n in names}
            donor = max(names, key=lambda n: counts[n])
            out[min((p for p in out if out[p] == donor), key=lambda p: (sizes[p], p))] = name
    return out


def split_by_patient(
    coco_path: str | os.PathLike[str],
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write ``<stem>_<split>.json`` per split (beside the input unless ``out_dir``).

    Patients are the images' ``patient_id``; an image without one is its own patient (with a
    warning: its other views may then land in another split). Image and annotation ids are
    kept, so a prediction can be traced back to the full file.
    """
    fractions = _check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    coco_path = Path(coco_path)
    coco = load_coco(coco_path)
    out = Path(out_dir) if out_dir is not None else coco_path.parent
    patient_of, sizes, positive = patients_of(coco, coco_path)
    split_of = assign_patients(sizes, positive, fractions, seed)
    info = coco.get("info") if isinstance(coco.get("info"), dict) else {}
    paths = {}
    for name in fractions:
        ids = {i["id"] for i in coco["images"] if split_of[patient_of[i["id"]]] == name}
        meta = {**info, "split": name, "seed": seed, "source": str(coco_path)}
        paths[name] = write_subset(
            coco, ids, coco_path, out / f"{coco_path.stem}_{name}.json", meta
        )
    return paths


def patients_of(coco: dict, coco_path: Path) -> tuple[dict[int, str], dict[str, int], set[str]]:
    """(image id -> patient key, patient -> image count, patients with a lesion). An image
    without ``patient_id`` is its own patient (with a warning: its other views may then land
    in another split)."""
    patient_of: dict[int, str] = {}
    missing = 0
    for img in coco["images"]:
        pid = img.get("patient_id")
        missing += pid is None
        patient_of[img["id"]] = f"image:{img['id']}" if pid is None else f"patient:{pid}"
    if missing:
        warnings.warn(
            f"{coco_path}: {missing} image(s) without patient_id split as their own patient; "
            "views of one woman may end up in different splits",
            stacklevel=3,
        )
    sizes: dict[str, int] = defaultdict(int)
    for pid in patient_of.values():
        sizes[pid] += 1
    positive = {patient_of[a["image_id"]] for a in coco["annotations"]}
    return patient_of, dict(sizes), positive


def write_subset(
    coco: dict, image_ids: set[int], coco_path: Path, out_path: Path, info: dict
) -> Path:
    """Write the images ``image_ids`` of ``coco`` (read from ``coco_path``) and their
    annotations to ``out_path``, with relative image paths rebased to the new folder. Image and
    annotation ids are kept, so a prediction can be traced back to the full file."""
    src_dir = Path(os.path.abspath(Path(coco_path).parent))
    dst_dir = Path(os.path.abspath(Path(out_path).parent))
    images = [dict(i) for i in coco["images"] if i["id"] in image_ids]
    for img in images:
        if src_dir != dst_dir and not Path(img["file_name"]).is_absolute():
            img["file_name"] = os.path.relpath(src_dir / img["file_name"], dst_dir)
    anns = [a for a in coco["annotations"] if a["image_id"] in image_ids]
    return write_coco({**coco, "info": info, "images": images, "annotations": anns}, out_path)
