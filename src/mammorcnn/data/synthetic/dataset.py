"""A folder of phantoms: PNG-16 images + one COCO JSON with RLE masks.

Image ``i`` depends only on ``(seed, i)``, so a larger dataset starts with the images of a
smaller one and a test can regenerate any single image. Images come in pairs (CC then MLO) of
one patient, so splitting by patient has something to keep together.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from mammorcnn.data.coco import mask_to_rle, write_bytes_atomic, write_coco
from mammorcnn.data.synthetic.masses import SHAPES
from mammorcnn.data.synthetic.phantom import make_phantom
from mammorcnn.errors import ConfigError

CATEGORIES = {
    "mass": [{"id": 1, "name": "mass", "supercategory": "lesion"}],
    "pathology": [
        {"id": 1, "name": "benign", "supercategory": "lesion"},
        {"id": 2, "name": "malignant", "supercategory": "lesion"},
    ],
}


def _write_png16(img: np.ndarray, path: Path) -> None:
    """16-bit greyscale PNG, written under a temporary name and renamed (no torn files)."""
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="PNG", compress_level=1)
    write_bytes_atomic(buffer.getvalue(), path)


def generate_phantom_dataset(
    out_dir: str | os.PathLike[str],
    n_images: int,
    seed: int,
    image_size: int = 512,
    *,
    masses_per_image: tuple[int, int] = (1, 2),
    negative_fraction: float = 0.0,
    shapes: Sequence[str] = SHAPES,
    size_range: tuple[float, float] = (0.05, 0.20),
    contrast_range: tuple[float, float] = (0.12, 0.25),
    class_mapping: str = "mass",
    json_name: str = "annotations.json",
) -> Path:
    """Write ``n_images`` phantoms to ``out_dir/images`` and return the COCO JSON's path.

    ``masses_per_image`` is an inclusive range; a ``negative_fraction`` of images get none
    (negatives for the FP rate). ``class_mapping`` "mass" gives one class, "pathology"
    benign/malignant (from the shape, see ``masses.PATHOLOGY``).
    """
    if class_mapping not in CATEGORIES:
        raise ConfigError(f"phantoms: class_mapping must be one of {sorted(CATEGORIES)}")
    lo, hi = masses_per_image
    if n_images < 1 or not 0 <= lo <= hi or not 0 <= negative_fraction <= 1:
        raise ConfigError(
            "phantoms: need n_images >= 1, 0 <= masses_per_image[0] <= [1], "
            "0 <= negative_fraction <= 1"
        )
    out = Path(out_dir)
    labels = {c["name"]: c["id"] for c in CATEGORIES[class_mapping]}
    images, anns = [], []
    for i in range(n_images):
        rng = np.random.default_rng([seed, i])
        view = "CC" if i % 2 == 0 else "MLO"
        n = 0 if rng.random() < negative_fraction else int(rng.integers(lo, hi + 1))
        img, masks, meta = make_phantom(
            rng,
            image_size,
            view=view,
            n_masses=n,
            shapes=shapes,
            size_range=size_range,
            contrast_range=contrast_range,
        )
        name = f"images/phantom_{i:05d}_{meta['laterality']}_{view}.png"
        _write_png16(img, out / name)
        images.append(
            {
                "id": i + 1,
                "file_name": name,
                "width": image_size,
                "height": image_size,
                "patient_id": f"phantom_{i // 2:05d}",
                "view": view,
                "laterality": meta["laterality"],
                "density": meta["density"],
            }
        )
        for mask, mass in zip(masks, meta["masses"]):
            rle = mask_to_rle(mask)
            label = labels["mass" if class_mapping == "mass" else mass["pathology"]]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": label,
                    "segmentation": rle,
                    "area": int(mask.sum()),
                    "iscrowd": 0,
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "shape": mass["shape"],
                    "pathology": mass["pathology"],
                    "contrast": mass["contrast"],
                }
            )
    coco = {
        "info": {"description": "mammorcnn synthetic phantoms", "seed": seed},
        "images": images,
        "annotations": anns,
        "categories": CATEGORIES[class_mapping],
    }
    return write_coco(coco, out / json_name)
