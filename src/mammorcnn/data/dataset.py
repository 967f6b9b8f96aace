"""CocoMammoDataset: COCO JSON + mammograms -> (CxSxS image, Mask R-CNN target), cached.

C is 1, the film, or 2 with ``data.preprocess.other_breast``: the film and the same woman's
other breast in the same view, each preprocessed on its own (chest wall on the left), so the
second channel lies roughly where a mirror image of the first would (docs/training.md).

Labels: the COCO category ids sorted ascending become 1..C (``dataset.category_ids[label-1]``
turns a predicted label back into the category id). ``iscrowd`` annotations are left out of
the targets, as in torchvision's detection references.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mammorcnn.data.augment import Augmentation
from mammorcnn.data.breast_pairs import pair_contralateral
from mammorcnn.data.cache import PreprocessCache, cache_key, default_cache_dir, dequantise, quantise
from mammorcnn.data.coco import BOX_ONLY, annotation_mask, load_coco, resolve_image_path
from mammorcnn.data.config import DataConfig
from mammorcnn.data.io import read_image
from mammorcnn.data.paste import LesionPaste, LesionPatch, cut_patch
from mammorcnn.data.preprocess import PreprocessRecord, preprocess
from mammorcnn.data.synthetic_mass import SyntheticMass
from mammorcnn.errors import AnnotationError, ConfigError, ImageReadError, MammoError

logger = logging.getLogger(__name__)


class CocoMammoDataset(Dataset):
    """Images and annotations of one COCO JSON, preprocessed for the model.

    ``skip_bad`` is passed to the COCO loader (bad entries dropped and listed in
    ``self.skipped``); call :meth:`prepare` to decode every image once up front (filling the
    cache and, with ``skip_bad``, dropping unreadable images too).
    """

    def __init__(
        self,
        annotation_json: str | os.PathLike[str],
        data_config: DataConfig | None = None,
        train: bool = False,
        *,
        skip_bad: bool = False,
    ) -> None:
        self.path = Path(annotation_json)
        self.config = data_config or DataConfig()
        self.train = train
        self.skipped: list[dict] = []
        self.root = self.path.parent
        coco = load_coco(self.path, root=self.root, skip_bad=skip_bad, skipped=self.skipped)
        self.categories = sorted(coco["categories"], key=lambda c: c["id"])
        self.category_ids = [c["id"] for c in self.categories]
        self._label = {cid: n + 1 for n, cid in enumerate(self.category_ids)}
        self._anns: dict[int, list[dict]] = defaultdict(list)
        for ann in coco["annotations"]:
            if not ann.get("iscrowd", 0):
                self._anns[ann["image_id"]].append(ann)
        self.images: list[dict] = list(coco["images"])
        self.left_out: list[dict] = []  # training images left out by data.train_skip_findings
        if train and self.config.train_skip_findings:
            self._skip_other_findings(set(self.config.train_skip_findings))
        use_aug = train and self.config.augment.enabled
        self.augment = Augmentation(self.config.augment) if use_aug else None
        augment = self.config.augment
        self.paste = (
            LesionPaste(augment.paste_prob, augment.paste_scale, augment.paste_rotate)
            if use_aug and augment.paste_prob > 0
            else None
        )
        self.synthetic_mass = self._synthetic_mass(use_aug)
        self._patch_memo: dict[int, list[LesionPatch | None]] = {}
        folder = self.config.cache_dir or default_cache_dir()
        self.cache = PreprocessCache(folder) if self.config.cache else None
        self._settings = self.config.preprocess.image_settings()
        self._partners = self._pair_breasts()

    def _skip_other_findings(self, types: set[str]) -> None:
        """Leave out the images without annotations whose ``has_other_findings`` holds one of
        ``types``: trained as lesion-free, their findings would be taught as background."""
        kept = []
        for info in self.images:
            others = set(info.get("has_other_findings") or ())
            if others & types and not self._anns.get(info["id"]):
                self.left_out.append(info)
            else:
                kept.append(info)
        self.images = kept
        if self.left_out:
            logger.info(
                "%s: %d training image(s) left out by data.train_skip_findings %s",
                self.path,
                len(self.left_out),
                sorted(types),
            )

    def _pair_breasts(self) -> dict[int, int]:
        """image index -> the index of its partner (the other breast), when asked for."""
        if not self.config.preprocess.other_breast:
            return {}
        index_of = {info["id"]: n for n, info in enumerate(self.images)}
        pairs = pair_contralateral(self.images)
        return {index_of[a]: index_of[b] for a, b in pairs.items()}

    def partner(self, index: int) -> int | None:
        """The index of image ``index``'s other breast (None: unpaired, or not asked for)."""
        return self._partners.get(index)

    def with_other_breast(self, index: int, image: np.ndarray, drop: bool = False) -> np.ndarray:
        """``image`` (SxS) of image ``index`` as it stands, or, with ``other_breast``, 2xSxS
        with its partner's preprocessed film as the second channel (zeros when it has none,
        or when ``drop``: then the partner is not even read)."""
        if not self.config.preprocess.other_breast:
            return image
        partner = None if drop else self.partner(index)
        other = self._load(partner)[0] if partner is not None else np.zeros_like(image)
        return np.stack([image, other])

    def _synthetic_mass(self, use_aug: bool) -> SyntheticMass | None:
        """The drawing of synthetic masses, if the config asks for it; their label is the
        set's one class (a drawn mass has no pathology to tell benign from malignant)."""
        augment = self.config.augment
        if not use_aug or augment.synthetic_mass_prob <= 0:
            return None
        if len(self.categories) != 1:
            names = ", ".join(c["name"] for c in self.categories)
            raise ConfigError(
                f"{self.path}: data.augment.synthetic_mass_prob needs one category, this set "
                f"has {len(self.categories)} ({names})"
            )
        size, contrast = augment.synthetic_mass_size, augment.synthetic_mass_contrast
        return SyntheticMass(augment.synthetic_mass_prob, size, contrast, label=1)

    def __len__(self) -> int:
        return len(self.images)

    def image_info(self, index: int) -> dict:
        """The COCO image entry (``id``, ``file_name``, ``width``, ``height``, ...)."""
        return self.images[index]

    def has_lesions(self, index: int) -> bool:
        """Whether image ``index`` has at least one (non-crowd) annotation."""
        return bool(self._anns.get(self.images[index]["id"]))

    def preprocessed(self, index: int) -> tuple[np.ndarray, PreprocessRecord]:
        """(model input float32 SxS, or 2xSxS with ``other_breast``; record) of image
        ``index``, unaugmented: one cache read for inference, where ``dataset[index]`` then
        ``record(index)`` would read it twice."""
        image, record, _ = self._load(index)
        return self.with_other_breast(index, image), record

    def record(self, index: int) -> PreprocessRecord:
        """How image ``index`` was preprocessed (maps predictions back to the original)."""
        return self._load(index)[1]

    def meta(self, index: int) -> dict:
        """The reader's meta for image ``index`` (kind, laterality and its source, UIDs...)."""
        return self._load(index)[2]

    def view(self, index: int) -> str | None:
        """The view of image ``index`` (MLO, CC...): the annotation file's, else the file's own
        tags as read into the cache (what the pectoral rule needs)."""
        view = self.images[index].get("view")
        return view if view is not None else self.meta(index).get("view")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, record, _ = self._load(index)
        target = self._target(index, record)
        drop = self.config.preprocess.other_breast and self._drop_partner()
        tensor = torch.from_numpy(self.with_other_breast(index, image, drop))
        tensor = tensor[None] if tensor.dim() == 2 else tensor
        # paste and synthetic masses change channel 0 only: the new lesion is in this breast
        if self.paste is not None:
            tensor, target = self.paste(tensor, target, self.random_lesion)
        if self.synthetic_mass is not None:
            tensor, target = self.synthetic_mass(tensor, target)
        if self.augment is not None:
            tensor, target = self.augment(tensor, target)
        return tensor, target

    def _drop_partner(self) -> bool:
        """Whether this training sample reads its film without the partner."""
        dropout = self.config.augment.other_breast_dropout
        return self.augment is not None and float(torch.rand(())) < dropout

    def random_lesion(self, tries: int = 10) -> LesionPatch | None:
        """A lesion with a real mask from a random image of this set, cut out for pasting
        (None when ``tries`` draws found none that can be cut out whole)."""
        donors = [i for i in range(len(self.images)) if self.has_lesions(i)]
        for _ in range(tries if donors else 0):
            patches = self._patches_of(donors[int(torch.randint(len(donors), ()))])
            if patches:
                patch = patches[int(torch.randint(len(patches), ()))]
                if patch is not None:
                    return patch
        return None

    def _patches_of(self, index: int) -> list[LesionPatch | None]:
        """The cut-out lesions of image ``index`` with a real mask (None: cannot be cut out
        whole), kept after the first call: rasterising a mask costs more than the paste."""
        key = self.images[index]["id"]
        if key not in self._patch_memo:
            image, record, _ = self._load(index)
            target = self._target(index, record)
            pixels = torch.from_numpy(image)[None]
            self._patch_memo[key] = [
                cut_patch(pixels, target["masks"][k].bool(), int(target["labels"][k]))
                for k in torch.nonzero(target["mask_valid"]).flatten().tolist()
            ]
        return self._patch_memo[key]

    def prepare(self, skip_bad: bool = False) -> list[dict]:
        """Preprocess every image now (fills the cache). With ``skip_bad`` an image that
        cannot be read is dropped with a warning and returned (also added to ``skipped``);
        otherwise the first one raises."""
        bad: list[dict] = []
        keep: list[dict] = []
        for index, info in enumerate(self.images):
            try:
                self._load(index)
                keep.append(info)
            except MammoError as exc:
                if not skip_bad:
                    raise
                warnings.warn(f"skipped image {info['id']}: {exc}", stacklevel=2)
                path = getattr(exc, "path", None) or str(self._file(info))
                bad.append({"file": path, "kind": "image", "id": info["id"], "problem": str(exc)})
        self.images = keep
        self._partners = self._pair_breasts()  # indices moved; a dropped image's partner waits
        self.skipped.extend(bad)
        return bad

    # ---- internals ----------------------------------------------------------------------------
    def _file(self, info: dict) -> Path:
        return resolve_image_path(info["file_name"], self.root)

    def _load(self, index: int) -> tuple[np.ndarray, PreprocessRecord, dict]:
        """(image float32 SxS, record, meta) from the cache, else decoded and cached."""
        info = self.images[index]
        path = self._file(info)
        hint = info.get("laterality") if info.get("laterality") in ("L", "R") else None
        key = None
        if self.cache is not None:
            try:
                key = cache_key(path, {"preprocess": self._settings, "laterality_hint": hint})
            except OSError as exc:
                raise ImageReadError(path, f"cannot be read ({exc.strerror or exc})") from exc
            cached = self.cache.load(key)
            if cached is not None:
                return cached
        raw = read_image(path)
        if raw.meta["laterality"] is None and hint is not None:
            # the annotation's laterality (converters copy it from CSVs) beats image content
            raw.meta["laterality"], raw.meta["laterality_source"] = hint, "annotation"
        height, width = raw.pixels.shape
        if (height, width) != (info["height"], info["width"]):
            raise AnnotationError(
                self.path,
                f"image {info['id']} ({path}) is {height}x{width} pixels but its entry says "
                f"{info['height']}x{info['width']}",
            )
        image, record = preprocess(raw, self.config.preprocess)
        # The stored form is 16-bit; return that form always, so a cached and a fresh epoch
        # (or a resumed run) see identical pixels.
        stored = quantise(image)
        if self.cache is not None and key is not None:
            self.cache.store(key, image, record, raw.meta)
        return dequantise(stored), record, raw.meta

    def _target(self, index: int, record: PreprocessRecord) -> dict[str, Any]:
        info = self.images[index]
        anns = self._anns.get(info["id"], [])
        size = record.image_size
        boxes, labels, masks, valid = [], [], [], []
        for ann in anns:
            x, y, w, h = ann["bbox"]
            box = record.boxes_to_model(np.array([[x, y, x + w, y + h]]))[0]
            box = np.clip(box, 0, size)
            mask = record.masks_to_model(annotation_mask(ann, info["height"], info["width"]))
            if box[2] - box[0] < 1 or box[3] - box[1] < 1 or not mask.any():
                warnings.warn(
                    f"{self.path}: annotation {ann['id']} of image {info['id']} lies outside "
                    "the breast crop and is left out",
                    stacklevel=3,
                )
                continue
            boxes.append(box)
            labels.append(self._label[ann["category_id"]])
            masks.append(mask)
            valid.append(not ann.get(BOX_ONLY, False))
        return {
            "boxes": torch.as_tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(labels, dtype=torch.int64),
            "masks": torch.as_tensor(np.array(masks, dtype=np.uint8).reshape(-1, size, size)),
            "mask_valid": torch.as_tensor(valid, dtype=torch.bool),
            "image_id": int(info["id"]),
        }


def collate_fn(batch: list[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """Detection batches stay lists: images may differ in size and targets in length."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
