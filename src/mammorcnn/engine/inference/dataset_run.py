"""`predict_dataset`: a trained model over the images of a COCO file, in original pixels.

The one path from weights to scored detections that `mammorcnn evaluate`, `crossval` and a
Python user share: the fast load (BN folded, channels_last), the checkpoint's preprocessing,
batching, and masks mapped to full resolution a few detections at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from mammorcnn.engine.inference.class_match import paired_categories, scored_detections
from mammorcnn.errors import ConfigError

log = logging.getLogger(__name__)

# Masks of this many detections are mapped to full resolution at a time: a 4560x2864 boolean
# mask is 13 MB, so evaluating 100 detections per image stays within ~200 MB.
MASK_CHUNK = 16


@dataclass
class DatasetRunOptions:
    """How the model runs (the options `predict` and `evaluate` share)."""

    device: str = "auto"
    batch_size: int = 1
    # FROC sweeps every threshold, so evaluation keeps every detection by default.
    score_threshold: float = 0.0
    # Where score_threshold came from when predict took it from an evaluation's FROC
    # ({"report": path, "fp_per_image": F}; engine/metrics/operating_point.py), else None.
    operating_point: dict | None = None
    max_detections: int | None = None
    proposals: int | None = None
    bf16: bool = False
    # Merge the up-down mirrored view (None: the checkpoint's model.box_head.test_time_flip).
    test_time_flip: bool | None = None
    # Image scales to run and merge (None: the checkpoint's model.box_head.test_time_scales).
    test_time_scales: list[float] | None = None
    # Drop detections nested in a higher-scoring one beyond this overlap (None: the
    # checkpoint's model.box_head.nested_thresh; 1 turns it off). model/nested.py.
    nested_thresh: float | None = None
    # Lower detections the same woman's other breast repeats, by this weight (None: the
    # checkpoint's model.box_head.contralateral_weight; 0 turns it off). Needs the set's
    # patient_id; engine/inference/contralateral.py.
    contralateral_weight: float | None = None
    # Its Gaussian's sigma in breast coordinates (None: the checkpoint's
    # model.box_head.contralateral_radius).
    contralateral_radius: float | None = None
    # Multiply an image's k-th detection of a class by this to the power k (None: the
    # checkpoint's model.box_head.rank_decay; 1 turns it off). rank_decay.py.
    rank_decay: float | None = None
    # Lower detections centred in the pectoral muscle of MLO-type views by this weight (None:
    # the checkpoint's model.box_head.pectoral_weight; 0 turns it off). pectoral.py.
    pectoral_weight: float | None = None
    # The view of input files that do not state one (DICOM ViewPosition, a file-name token
    # such as _MLO); what the pectoral rule reads. None: such files stay of unknown view.
    assumed_view: str | None = None
    # Put scores on the checkpoint's calibrated scale when it has one (None: yes; False: the
    # raw scores). engine/inference/score_calibration.py.
    score_calibration: bool | None = None
    # More weights (files or run folders) run on the same images, their detections merged
    # with the first model's (engine/inference/ensemble.py; docs/evaluation.md, "Ensembles").
    ensemble: list[str] = field(default_factory=list)
    cache_dir: str | None = None
    # Settings the user states; refused when the checkpoint was trained with others.
    preprocess_overrides: list[str] = field(default_factory=list)  # "key=value" items
    # Leave out unreadable images (returned as skipped) instead of stopping at the first.
    skip_bad: bool = False
    # Log that --bf16 would be faster on this CPU (commands without --bf16 turn it off).
    bf16_hint: bool = True


def load_for_options(weights: str | Path, opts: DatasetRunOptions):  # noqa: ANN201 - LoadedModel
    """The fast-loaded model the options ask for, checked against the stated settings (the
    first model of an ensemble: see :func:`load_ensemble` for the others)."""
    from mammorcnn.engine.inference.loading import check_preprocess_overrides, load_trained_model

    loaded = load_trained_model(
        Path(weights),
        opts.device,
        fast=True,
        proposals=opts.proposals,
        bf16=opts.bf16,
        bf16_hint=opts.bf16_hint,
    )
    check_preprocess_overrides(loaded, opts.preprocess_overrides)
    if opts.nested_thresh is not None:
        set_nested_thresh(loaded, opts.nested_thresh)
    return loaded


def set_nested_thresh(loaded, threshold: float) -> None:  # noqa: ANN001 - LoadedModel
    """Use ``threshold`` for the nested-detection suppression of a loaded model: in its RoI
    heads (each view) and in its config (what the predictor applies after merging views)."""
    from mammorcnn.model.nested import check_threshold

    loaded.model_config.box_head.nested_thresh = check_threshold(threshold, "--nested-thresh")
    heads = getattr(loaded.model, "roi_heads", None)
    if heads is not None:
        heads.nested_thresh = threshold


def load_ensemble(loaded, opts: DatasetRunOptions) -> list:  # noqa: ANN001 - LoadedModel
    """The other models of ``opts.ensemble``, loaded like the first and checked against it."""
    from mammorcnn.engine.inference.ensemble import load_members

    quiet = replace(opts, bf16_hint=False)  # the first model's load said it already
    return load_members(loaded, opts.ensemble, lambda path: load_for_options(path, quiet))


def predictor_for(loaded, opts: DatasetRunOptions):  # noqa: ANN001, ANN201 - LoadedModel, Predictor
    """The predictor the options ask for: the one mapping from options to inference settings
    that `predict_dataset` and `predict_files` share."""
    from mammorcnn.engine.inference.predictor import Predictor

    return Predictor(
        loaded,
        opts.score_threshold,
        opts.batch_size,
        opts.max_detections,
        test_time_flip=opts.test_time_flip,
        ensemble=load_ensemble(loaded, opts),
        test_time_scales=opts.test_time_scales,
        rank_decay=opts.rank_decay,
        pectoral_weight=opts.pectoral_weight,
        assumed_view=opts.assumed_view,
        score_calibration=opts.score_calibration,
    )


def run_settings(opts: DatasetRunOptions, predictor) -> dict:  # noqa: ANN001 - Predictor
    """The inference settings a predictions file records (and a PACS push's identity)."""
    settings = {"score_threshold": opts.score_threshold, "max_detections": opts.max_detections}
    if opts.operating_point is not None:
        settings["operating_point"] = opts.operating_point
    if predictor.test_time_flip:
        settings["test_time_flip"] = True
    if predictor.test_time_scales != (1.0,):
        settings["test_time_scales"] = list(predictor.test_time_scales)
    nested = predictor.loaded.model_config.box_head.nested_thresh
    if nested is not None:
        settings["nested_thresh"] = nested
    if predictor.rank_decay != 1:
        settings["rank_decay"] = predictor.rank_decay
    if predictor.pectoral_weight != 0:
        settings["pectoral_weight"] = predictor.pectoral_weight
    weight, radius = contralateral_settings(opts, predictor.loaded)
    if weight > 0:
        settings["contralateral"] = {"weight": weight, "radius": radius}
    if predictor.calibration is not None:
        settings["score_calibration"] = True
    if predictor.ensemble:
        settings["ensemble"] = [str(member.path) for member in predictor.ensemble]
    return settings


def contralateral_settings(opts: DatasetRunOptions, loaded=None) -> tuple[float, float]:  # noqa: ANN001
    """(weight, radius) of the contralateral suppression: the options, else the checkpoint's
    (without a checkpoint, as for saved results: the config's defaults)."""
    from mammorcnn.engine.inference.contralateral import check_settings
    from mammorcnn.model.config import BoxHeadConfig

    box_head = loaded.model_config.box_head if loaded is not None else BoxHeadConfig()
    weight, radius = opts.contralateral_weight, opts.contralateral_radius
    weight = box_head.contralateral_weight if weight is None else weight
    radius = box_head.contralateral_radius if radius is None else radius
    try:
        check_settings(weight, radius)
    except ValueError as error:
        raise ConfigError(f"--contralateral-weight/--contralateral-radius: {error}") from None
    return weight, radius


def predict_dataset(
    weights: str | Path,
    gt_path: str | Path,
    options: DatasetRunOptions | None = None,
    out_dir: Path | None = None,
    progress: bool | None = None,
) -> tuple[list[dict], list[dict]]:
    """(COCO results in original pixels, images left out by ``skip_bad``); with ``out_dir``
    also writes its predictions.json."""
    from tqdm import tqdm

    from mammorcnn.data import CocoMammoDataset, DataConfig
    from mammorcnn.data.coco import resolve_image_path
    from mammorcnn.engine.graceful_stop import stop_if_requested
    from mammorcnn.engine.inference.predictions_file import (
        FILE_NAME,
        image_entry,
        write_predictions,
    )
    from mammorcnn.engine.inference.predictor import slice_output, to_original
    from mammorcnn.engine.outputs import coco_results

    opts = options or DatasetRunOptions()
    loaded = load_for_options(weights, opts)
    # The checkpoint's preprocessing always decides how the images are prepared.
    config = DataConfig(preprocess=loaded.preprocess, cache_dir=opts.cache_dir)
    dataset = CocoMammoDataset(gt_path, config, train=False)
    pairs = paired_categories(loaded.categories, dataset.categories, loaded.path, gt_path)
    labels = {k: pairs[cid] for k, cid in enumerate(loaded.category_ids, 1) if cid in pairs}
    unscored = [n for k, n in enumerate(loaded.class_names, 1) if k not in labels]
    if unscored:
        log.info("%s has no category %s: those classes' detections are not scored",
                 gt_path, ", ".join(map(repr, unscored)))  # fmt: skip
    skipped = dataset.prepare(skip_bad=True) if opts.skip_bad else []
    predictor = predictor_for(loaded, opts)
    results, images, records = [], [], {}
    starts = range(0, len(dataset), opts.batch_size)
    for start in tqdm(starts, desc="evaluate", disable=None if progress is None else not progress):
        indices = range(start, min(start + opts.batch_size, len(dataset)))
        items = [predictor.prepare_item(dataset, i) for i in indices]
        for index, item, output in zip(indices, items, predictor.run(items)):
            info = dataset.image_info(index)
            if unscored:
                output = scored_detections(output, labels)
            n = len(output["scores"])
            for first in range(0, n, MASK_CHUNK):
                det = to_original(slice_output(output, first, first + MASK_CHUNK), item.record)
                results += coco_results(info["id"], det, labels)
            source = resolve_image_path(info["file_name"], dataset.root)
            images.append(image_entry(info["id"], source, item.record, None, {}, n))
            records[info["id"]] = item.record
        stop_if_requested(f"after {len(images)} of {len(dataset)} image(s); nothing written yet")
    weight, radius = contralateral_settings(opts, loaded)
    if weight > 0:
        from mammorcnn.engine.inference.contralateral import suppress_results

        infos = [dataset.image_info(i) for i in range(len(dataset))]
        results = suppress_results(results, infos, records, weight, radius)
    if out_dir is not None:
        settings = run_settings(opts, predictor)
        if unscored:
            settings["unscored_classes"] = unscored
        # paired by name, the results carry the file's ids (class_match.py)
        by_name = dataset.category_ids != loaded.category_ids
        categories = [{"id": c["id"], "name": c["name"]} for c in dataset.categories]
        categories = categories if by_name else None
        write_predictions(Path(out_dir) / FILE_NAME, images, results, loaded, settings, categories)
    return results, skipped
