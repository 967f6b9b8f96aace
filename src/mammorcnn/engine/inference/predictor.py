"""Run a trained model on mammograms and map its detections back to the original pixels.

The model sees the SxS preprocessed image; users, ground truths and DICOM SEGs live in the
original 4000x3000 geometry. Everything the model returns therefore goes through the
preprocessing record (`boxes_to_original`, `mask_to_original`) before it is written or scored,
for `predict` (files) and `evaluate` (a dataset's records) alike, so both are compared in the
same coordinates.

Masks are the expensive part at full resolution (a 4560x2864 probability map is 52 MB), so
they are mapped back only for the detections that pass the score threshold, one at a time,
and kept as booleans (the mask head's 0.5 decision).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from mammorcnn.data.cache import dequantise, quantise
from mammorcnn.data.io import read_image
from mammorcnn.data.io.raw import VIEW_CODES
from mammorcnn.data.preprocess import PreprocessRecord, preprocess
from mammorcnn.engine.inference.flip_merge import (
    merge_views,
    mirror_vertically,
    rescale_image,
    unscale_view,
)
from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.engine.inference.pectoral import check_weight, suppress_pectoral
from mammorcnn.engine.inference.rank_decay import check_decay, decay_by_rank
from mammorcnn.engine.inference.score_calibration import METADATA_KEY, ScoreCalibration
from mammorcnn.engine.outputs import Detections
from mammorcnn.errors import ConfigError, InputError
from mammorcnn.model.config import MAX_TEST_SCALE, MIN_TEST_SCALE
from mammorcnn.model.nested import not_nested

T = TypeVar("T")
log = logging.getLogger("mammorcnn.predict")

# Boxes thinner than this (original pixels) after clipping to the breast crop are dropped: they
# lay in the zero padding beside the crop, and COCO results need positive sizes (boxes are
# written rounded to 0.01 px).
MIN_BOX_SIDE = 0.01
MASK_THRESHOLD = 0.5


@dataclass
class PreparedImage:
    """One input ready for the model, with what maps its detections back."""

    image: np.ndarray  # float32 SxS (or CxSxS: film, other breast) in [0, 1], the model's input
    record: PreprocessRecord
    meta: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    pixels: np.ndarray | None = None  # the original image (for overlays); None when not kept


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def slice_output(output: dict[str, torch.Tensor], start: int, stop: int) -> dict[str, torch.Tensor]:
    """Detections ``start:stop`` of one image's model output (to bound memory per step)."""
    return {key: value[start:stop] for key, value in output.items()}


def original_boxes(boxes: torch.Tensor, record: PreprocessRecord) -> tuple[np.ndarray, np.ndarray]:
    """(K,4) model-space boxes -> original pixels clipped to the breast crop, and which of
    them keep an area (the others lay wholly in the zero padding beside the crop, where the
    model saw nothing of the image)."""
    out = record.boxes_to_original(boxes.detach().cpu().double().numpy()).reshape(-1, 4)
    x0, y0, x1, y1 = record.crop_box
    out[:, [0, 2]] = out[:, [0, 2]].clip(x0, x1)
    out[:, [1, 3]] = out[:, [1, 3]].clip(y0, y1)
    valid = (out[:, 2] - out[:, 0] >= MIN_BOX_SIDE) & (out[:, 3] - out[:, 1] >= MIN_BOX_SIDE)
    return out, valid


def to_original(
    output: dict[str, torch.Tensor], record: PreprocessRecord, with_masks: bool = True
) -> Detections:
    """One image's model-space detections -> :class:`Detections` in original pixels.

    Boxes are mapped exactly and clipped to the breast crop (see :func:`original_boxes`;
    boxes without area are dropped). Masks (K,1,S,S) probabilities are upsampled bilinearly
    (probabilities stay probabilities) and thresholded at 0.5: (K,H,W) bool.
    """
    boxes, valid = original_boxes(output["boxes"], record)
    keep = np.flatnonzero(valid)
    masks = None
    if with_masks and "masks" in output:
        masks = np.zeros((len(keep), *record.original_shape), dtype=bool)
        probs = output["masks"].detach()
        for n, k in enumerate(keep):
            prob = probs[k].reshape(probs.shape[-2:]).float().cpu().numpy()
            masks[n] = record.mask_to_original(prob) >= MASK_THRESHOLD
    return Detections(
        boxes=boxes[keep],
        scores=output["scores"].detach().cpu().double().numpy()[keep],
        labels=output["labels"].detach().cpu().numpy().astype(np.int64)[keep],
        masks=masks,
    )


@contextlib.contextmanager
def score_floor(model: torch.nn.Module, threshold: float) -> Iterator[None]:
    """Let the model drop detections below ``threshold`` itself, before its mask head.

    The caller keeps only scores >= ``threshold`` anyway; dropping them inside the model
    skips their mask head and their paste into the image (for a trained model most of its
    100 detections score below a reading threshold). The kept detections are the same:
    torchvision's post-processing removes low scores before its NMS, and a box below the
    threshold can only suppress boxes scored lower still. The model keeps ``score > t``, so
    ``t`` is set one float32 step below the threshold to keep ``score == threshold`` too.
    """
    heads = getattr(model, "roi_heads", None)
    original = getattr(heads, "score_thresh", None)
    if original is None or threshold <= 0.0:
        yield
        return
    below = torch.nextafter(
        torch.tensor(threshold, dtype=torch.float32), torch.tensor(-math.inf)
    ).item()
    heads.score_thresh = max(original, below)
    try:
        yield
    finally:
        heads.score_thresh = original


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Test-time scales as a tuple, refused (ConfigError) when empty or out of range."""
    scales = tuple(float(s) for s in scales)
    if not scales or not all(MIN_TEST_SCALE <= s <= MAX_TEST_SCALE for s in scales):
        raise ConfigError(
            "--test-time-scales (model.box_head.test_time_scales) must be one or more "
            f"numbers within [{MIN_TEST_SCALE}, "
            f"{MAX_TEST_SCALE}], got {list(scales)}"
        )
    return scales


def model_input(image: np.ndarray) -> torch.Tensor:
    """A prepared image as the model reads it: SxS (one film) -> 1xSxS; CxSxS stays."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))
    return tensor[None] if tensor.dim() == 2 else tensor


def checkpoint_calibration(loaded: LoadedModel) -> ScoreCalibration | None:
    """The score calibration kept in the weights' metadata, if any."""
    data = loaded.metadata.get(METADATA_KEY)
    return None if data is None else ScoreCalibration.from_metadata(data, loaded.path)


class Predictor:
    """The loaded model plus the inference settings: batching, score threshold, masks."""

    def __init__(
        self,
        loaded: LoadedModel,
        score_threshold: float = 0.5,
        batch_size: int = 1,
        max_detections: int | None = None,
        with_masks: bool = True,
        test_time_flip: bool | None = None,
        ensemble: Sequence[LoadedModel] = (),
        test_time_scales: Sequence[float] | None = None,
        rank_decay: float | None = None,
        pectoral_weight: float | None = None,
        assumed_view: str | None = None,
        score_calibration: bool | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ConfigError(f"--score-threshold must be within [0, 1], got {score_threshold}")
        if max_detections is not None and max_detections < 0:
            raise ConfigError(f"--max-detections must be >= 0, got {max_detections}")
        self.loaded = loaded
        self.score_threshold = score_threshold
        self.batch_size = batch_size
        self.max_detections = max_detections
        self.with_masks = with_masks
        # None: what the checkpoint's config says (model.box_head.test_time_flip)
        config_flip = loaded.model_config.box_head.test_time_flip
        self.test_time_flip = config_flip if test_time_flip is None else test_time_flip
        # None: the checkpoint's model.box_head.test_time_scales
        scales = loaded.model_config.box_head.test_time_scales
        self.test_time_scales = check_scales(
            scales if test_time_scales is None else test_time_scales
        )
        # More models on the same device, whose detections merge with this one's (ensemble.py)
        self.ensemble = list(ensemble)
        # None: the checkpoint's model.box_head.rank_decay (rank_decay.py)
        decay = loaded.model_config.box_head.rank_decay if rank_decay is None else rank_decay
        self.rank_decay = check_decay(decay, "--rank-decay")
        # None: the checkpoint's model.box_head.pectoral_weight (pectoral.py)
        weight = loaded.model_config.box_head.pectoral_weight
        weight = weight if pectoral_weight is None else pectoral_weight
        self.pectoral_weight = check_weight(weight, "--pectoral-weight")
        if assumed_view is not None and assumed_view not in VIEW_CODES:
            raise ConfigError(f"--view must be one of {', '.join(sorted(VIEW_CODES))}")
        self.assumed_view = assumed_view  # for files whose own view is unknown
        self.unknown_views = 0  # inputs the pectoral rule skipped for want of a view
        # The checkpoint's score calibration, unless turned off (score_calibration.py); with
        # an ensemble the merged score is put on the first model's scale.
        self.calibration = (
            checkpoint_calibration(loaded) if score_calibration in (None, True) else None
        )
        if score_calibration and self.calibration is None:
            raise ConfigError(f"{loaded.path} has no score calibration (docs/evaluation.md)")

    def prepare_file(self, path: Path, keep_pixels: bool = True) -> PreparedImage:
        """Read and preprocess a file with the checkpoint's settings (ImageReadError if bad).

        The image goes through the 16-bit form the dataset cache stores, so a file predicted
        here and the same file in an evaluated dataset give the model identical pixels.
        """
        raw = read_image(path)
        image, record = preprocess(raw, self.loaded.preprocess)
        pixels = raw.pixels if keep_pixels else None
        meta = raw.meta
        if meta.get("view") is None and self.assumed_view is not None:
            meta = {**meta, "view": self.assumed_view, "view_source": "--view"}
        return PreparedImage(dequantise(quantise(image)), record, meta, Path(path), pixels)

    def prepare_item(self, dataset: Any, index: int) -> PreparedImage:
        """Image ``index`` of a CocoMammoDataset (its cache and annotation laterality)."""
        image, record = dataset.preprocessed(index)
        view = dataset.image_info(index).get("view")
        if self.pectoral_weight > 0:  # the file's own tags too (another cache read)
            view = dataset.view(index)
        return PreparedImage(image, record, {"view": view}, None, None)

    @torch.inference_mode()
    def run(self, items: Sequence[PreparedImage]) -> list[dict[str, torch.Tensor]]:
        """Model-space detections (CPU tensors) per image: best first, at or above the score
        threshold after the rank decay and the pectoral rule, not wholly in the padding, at
        most ``max_detections``."""
        model, device = self.loaded.model, self.loaded.device
        outputs = []
        for batch in batched(items, self.batch_size):
            images = [model_input(i.image) for i in batch]
            try:
                results = self._forward(model, [image.to(device) for image in images])
            except torch.cuda.OutOfMemoryError:
                size = self.loaded.preprocess.image_size
                raise InputError(
                    batch[0].source,
                    f"out of GPU memory on a batch of {len(batch)} image(s) of {size}x{size}; "
                    "lower --batch-size or use --device cpu",
                ) from None
            for item, out in zip(batch, results):
                out = {key: value.detach().cpu() for key, value in out.items()}
                # A score floor inside the model (no merged views) drops nothing this would
                # keep: the decay and the pectoral rule only lower scores, and a rank counts
                # higher scores alone.
                out["scores"] = decay_by_rank(out["scores"], out["labels"], self.rank_decay)
                if self.pectoral_weight > 0 and item.meta.get("view") is None:
                    self._note_unknown_view(item)
                out["scores"], dropped = suppress_pectoral(
                    out["scores"],
                    out["boxes"],
                    item.image,
                    item.meta.get("view"),
                    self.pectoral_weight,
                )
                if self.calibration is not None:
                    names = self.loaded.class_names
                    out["scores"] = self.calibration.apply(out["scores"], out["labels"], names)
                _, valid = original_boxes(out["boxes"], item.record)
                valid &= ~dropped.numpy()
                order = torch.argsort(out["scores"], descending=True, stable=True)
                keep = (out["scores"][order] >= self.score_threshold) & torch.from_numpy(
                    valid[order.numpy()]
                )
                order = order[keep][: self.max_detections]
                outputs.append({key: value[order] for key, value in out.items()})
        return outputs

    def _note_unknown_view(self, item: PreparedImage) -> None:
        """Say once per predictor that the pectoral rule skips images of unknown view."""
        self.unknown_views += 1
        if self.unknown_views == 1:
            log.warning(
                "%s: view unknown, so the pectoral rule (model.box_head.pectoral_weight) "
                "leaves its marks as they are; state it with --view MLO (predict), a view "
                "token in the file name (_MLO) or the annotation file's view",
                item.source or "an image",
            )

    def _forward(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict]:
        """The model's outputs, merged with those of the up-down mirrors and of the other
        models of an ensemble when asked (each model and each mirror is one view)."""
        if not self.test_time_flip and not self.ensemble and self.test_time_scales == (1.0,):
            # a calibrated threshold is on another scale than the model's raw scores
            floor = 0.0 if self.calibration is not None else self.score_threshold
            with score_floor(model, floor):
                return model(images)
        # No score floor: a merged score averages views, so a view's detection below the
        # threshold can still lift its finding above it.
        views: list[list[dict]] = [[] for _ in images]
        for member in [model, *(m.model for m in self.ensemble)]:
            for scale in self.test_time_scales:
                scaled = images if scale == 1.0 else [rescale_image(i, scale) for i in images]
                outputs = member(scaled)
                if self.test_time_flip:
                    mirrored = member([image.flip(-2) for image in scaled])
                    outputs = [
                        view
                        for image, output, mirror in zip(scaled, outputs, mirrored)
                        for view in (output, mirror_vertically(mirror, image.shape[-2]))
                    ]
                per_image = len(outputs) // len(images)
                for k, (image, image_views) in enumerate(zip(images, views)):
                    for output in outputs[k * per_image : (k + 1) * per_image]:
                        view_size = tuple(scaled[k].shape[-2:])
                        image_views.append(
                            output
                            if scale == 1.0
                            else unscale_view(output, view_size, tuple(image.shape[-2:]))
                        )
        box_head = self.loaded.model_config.box_head
        merged = [merge_views(image_views, box_head.detections_per_img) for image_views in views]
        if box_head.nested_thresh is None:
            return merged
        # each view's own detections were un-nested by the model; the merge can nest them again
        keeps = [
            not_nested(m["boxes"], m["scores"], m["labels"], box_head.nested_thresh) for m in merged
        ]
        return [{key: value[keep] for key, value in m.items()} for m, keep in zip(merged, keeps)]

    def predict(self, items: Sequence[PreparedImage]) -> list[Detections]:
        """Detections in each item's original pixels."""
        outputs = self.run(items)
        return [to_original(out, item.record, self.with_masks) for out, item in zip(outputs, items)]
