"""`run_training`: the function `mammorcnn train` calls; wires config -> model, data, trainer.

This is the one place where concrete parts are chosen (build_model, CocoMammoDataset, the FROC
evaluator); each can be passed in instead, which is how tests and notebooks use it.
Works the same in one process and under `torchrun` (the process group comes from the
environment; only rank 0 writes). Only rank 0 holds the run folder's lock, so a second run
into the same folder is refused (torchrun then ends the other ranks).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset

from mammorcnn import __version__
from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.config import Config, check_input_channels, config_to_dict, load_config, save_config
from mammorcnn.engine.folder_lock import folder_lock
from mammorcnn.engine.training import distributed as D
from mammorcnn.engine.training.callbacks import EvaluateFn, OverlayFn, TrainResult
from mammorcnn.engine.training.loader import repeat_lesion_images
from mammorcnn.engine.training.phantom_pretrain import (
    DONE_MARK,
    PHANTOMS_DIR,
    PRETRAIN_DIR,
    check_pretraining,
    finished_weights,
    generate_phantoms,
    pretraining_config,
    starting_from,
    wants_pretraining,
)
from mammorcnn.engine.training.restore_pretrain import restoration_config, restoration_parts
from mammorcnn.engine.training.rng import seed_everything
from mammorcnn.engine.training.trainer import Trainer
from mammorcnn.errors import ConfigError, TrainingError

log = logging.getLogger("mammorcnn.train")

CONFIG_NAME = "config.yaml"


def load_run_config(run_dir: Path, overrides: list[str] | None = None) -> Config:
    """The config a run was started with (RUN_DIR/config.yaml), plus `overrides`: for resume."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; is {run_dir} a training run folder?")
    return load_config(path, overrides or [])


def weights_metadata(config: Config, class_names: list[str], category_ids: list[int]) -> dict:
    """What `predict`/`evaluate` need to rebuild the model and check their inputs."""
    return {
        "model_config": config_to_dict(config.model),
        "preprocess": config.data.preprocess.to_dict(),
        "class_names": class_names,
        "category_ids": category_ids,
        "mammorcnn_version": __version__,
    }


def _views(dataset: Dataset, pectoral_weight: float) -> list[str | None] | None:
    """Each image's view as the predictor reads it, where the pectoral rule needs it; None
    without the rule or for datasets passed in that do not know their views."""
    if pectoral_weight == 0 or not hasattr(dataset, "view"):
        return None
    return [dataset.view(i) for i in range(len(dataset))]


def _datasets(config: Config) -> tuple[Dataset, Dataset | None]:
    from mammorcnn.data import CocoMammoDataset

    train_json = config.train.train_annotations
    if not train_json:
        raise ConfigError("train.train_annotations is not set (a COCO JSON of training images)")
    train_set = CocoMammoDataset(train_json, config.data, train=True)
    val_json = config.train.val_annotations
    val_set = CocoMammoDataset(val_json, config.data, train=False) if val_json else None
    if val_set is not None and val_set.category_ids != train_set.category_ids:
        raise ConfigError(
            f"{val_json}: category ids {val_set.category_ids} differ from the training "
            f"set's {train_set.category_ids}"
        )
    return train_set, val_set


def _classes(train_set: Dataset, config: Config) -> tuple[list[str], list[int]]:
    """The classes' names and category ids, from the training annotations' categories; a
    ``model.num_classes`` of null takes their number (see `_with_class_count`)."""
    categories = getattr(train_set, "categories", None)
    if categories is None:  # an injected dataset without COCO categories
        n = config.model.num_classes or 1
        return [f"class{i + 1}" for i in range(n)], list(range(1, n + 1))
    if config.model.num_classes is None:
        _log_unused_findings(train_set, config.train.train_annotations)
    elif len(categories) != config.model.num_classes:
        # A number given is kept (null takes the file's): say both ways out (docs/training.md,
        # "Finding types as classes").
        raise ConfigError(
            f"{config.train.train_annotations}: model.num_classes={config.model.num_classes} "
            f"but the training annotations have {len(categories)} "
            f"{'category' if len(categories) == 1 else 'categories'} "
            f"({', '.join(c['name'] for c in categories)}); set "
            f"model.num_classes={len(categories)} or convert with the finding types the "
            "config expects (--lesion-types)"
        )
    return [c["name"] for c in categories], [c["id"] for c in categories]


def _with_class_count(config: Config, count: int) -> Config:
    """``config`` with a null ``model.num_classes`` filled in (a copy: the caller's config, a
    cross-validation's for every fold, stays as given); config.yaml and the checkpoints then
    record the number the model was built with."""
    if config.model.num_classes is not None:
        return config
    config = copy.deepcopy(config)
    config.model.num_classes = count
    log.info("model.num_classes: %d, from the training annotations' categories", count)
    return config


def _log_unused_findings(train_set: Dataset, annotations: str | None) -> None:
    """Say which finding types the file marks (``has_other_findings``) but does not annotate:
    with a class count taken from the file, converting with them would train them as classes
    (docs/training.md, "Finding types as classes"); silently leaving them as background
    would hide that the choice was the file's."""
    counts: Counter[str] = Counter()
    for image in getattr(train_set, "images", None) or []:
        counts.update(str(t) for t in image.get("has_other_findings") or ())
    if counts:
        found = ", ".join(f"{name} on {n} image(s)" for name, n in sorted(counts.items()))
        log.warning(
            "%s also marks findings it has no annotations for (%s): they train as background; "
            "convert with --lesion-types naming them to train them as classes",
            annotations, found,
        )  # fmt: skip


# Settings that live in the optimiser's saved state: on resume the state would silently keep
# the old values, so a change is refused rather than recorded and not used.
OPTIMISER_FIELDS = (
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "betas",
    "no_decay_norm_and_bias",
)


def refuse_optimiser_changes(config: Config, run_dir: Path) -> None:
    """One-line ConfigError when a resume changes a setting the optimiser's state holds."""
    path = run_dir / CONFIG_NAME
    if not path.is_file():
        return
    old = config_to_dict(load_config(path, []))["train"]
    new = config_to_dict(config)["train"]
    changed = [f"train.{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in OPTIMISER_FIELDS
               if old.get(k) != new.get(k)]  # fmt: skip
    if changed:
        raise ConfigError(
            f"{run_dir}: resuming cannot change {'; '.join(changed)} (the optimiser's saved "
            "state keeps the old value); resume without the change, or start a new run"
        )


def _record_config(config: Config, run_dir: Path, resume: bool) -> None:
    path = run_dir / CONFIG_NAME
    if resume and path.is_file():
        old, new = config_to_dict(load_config(path, [])), config_to_dict(config)
        changed = _diff(old, new)
        if changed:
            log.warning("resuming with changed settings: %s", "; ".join(changed))
    save_config(config, path)


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b, name = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, name + ".")
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def run_training(
    config: Config,
    run_dir: Path,
    resume: bool = False,
    *,
    model: nn.Module | None = None,
    train_set: Dataset | None = None,
    val_set: Dataset | None = None,
    evaluate: EvaluateFn | None = None,
    overlays: OverlayFn | None = None,
    pretrained: Path | None = None,
) -> TrainResult:
    """Train (or, with `resume`, continue) the run in `run_dir`; returns where the weights are.

    `result.best` is the checkpoint to use (best validation `train.best_metric`, or the last
    one when nothing was validated). Anything not passed in is built from `config`. With
    ``train.phantom_pretrain.images > 0`` the model first trains on phantoms in
    RUN/pretrain, unless `pretrained` already names such weights (cross-validation makes
    them once for all folds); with ``train.restore_pretrain.epochs > 0`` its backbone first
    learns to restore corrupted views of the training images there.
    """
    run_dir = Path(run_dir)
    with _group_and_lock(config.train.device, run_dir, "train") as info:
        check_pretraining(config)
        check_input_channels(config.data.preprocess, config.model)
        if model is None and wants_pretraining(config):
            if resume:
                refuse_optimiser_changes(config, run_dir)
            elif has_checkpoint(run_dir):
                raise TrainingError(
                    f"{run_dir} already holds checkpoints; resume it or use a new run folder"
                )
            if info.is_main:  # now, so that `train --resume RUN` finds it if killed meanwhile
                run_dir.mkdir(parents=True, exist_ok=True)
                _record_config(config, run_dir, resume)
            if pretrained is None:
                pretrained = _pretrain(config, run_dir / PRETRAIN_DIR, resume, info)
            # A run killed during its pretraining has no checkpoint of its own yet.
            resume = resume and has_checkpoint(run_dir)
        result = _train(
            config, run_dir, resume, info, model, train_set, val_set, evaluate, overlays,
            init=pretrained,
        )  # fmt: skip
        if info.is_main and config.train.score_calibration:
            _calibrate(config, result)
        return result


def _calibrate(config: Config, result: TrainResult) -> None:
    """train.score_calibration: fit the best weights' calibration on the training file."""
    from mammorcnn.engine.calibrate import calibrate_weights
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions

    annotations = config.train.train_annotations
    if not annotations:
        log.warning("train.score_calibration: no training annotations file; not calibrated")
        return
    options = DatasetRunOptions(device=config.train.device, cache_dir=config.data.cache_dir)
    calibrate_weights(result.best, annotations, options)


def pretrain_once(config: Config, folder: Path) -> Path:
    """The pretraining of `config` in `folder` (continued or reused if it is there): the
    weights. For several trainings that share one pretraining (cross-validation's folds share
    a phantom pretraining; a restoration pretraining reads the run's own images, so each
    fold makes its own)."""
    folder = Path(folder)
    check_pretraining(config)
    with _group_and_lock(config.train.device, folder, "pretrain") as info:
        return _pretrain(config, folder, has_checkpoint(folder), info)


@contextmanager
def _group_and_lock(device: str, folder: Path, command: str) -> Iterator[D.DistInfo]:
    """The process group (torchrun's, if any) and, on rank 0, `folder`'s lock, for a block."""
    info, created = D.init_distributed(device)
    lock = ExitStack()
    try:
        lock.enter_context(folder_lock(folder, command, enabled=info.is_main))
        yield info
    finally:
        lock.close()
        D.cleanup(created)


def has_checkpoint(run_dir: Path) -> bool:
    """Whether `run_dir` holds a complete checkpoint to resume from."""
    from mammorcnn.engine.training.manager import CheckpointManager

    return bool(CheckpointManager(run_dir / "checkpoints", 1).complete())


def _pretrain(config: Config, folder: Path, resume: bool, info: D.DistInfo) -> Path:
    """The pretraining stage in `folder` (phantoms generated by rank 0, or restoration of
    the run's images); the weights to start from."""
    done = finished_weights(folder)
    if done is not None and resume:
        log.info("pretraining already done: starting from %s", done)
        return done
    if done is not None:
        raise TrainingError(
            f"{folder} already holds a pretraining; resume it or use a new run folder"
        )
    resume = resume and has_checkpoint(folder)
    if config.train.restore_pretrain.epochs > 0:
        pre = restoration_config(config)
        log.info("restoration pretraining on %s in %s", pre.train.train_annotations, folder)
        seed_everything(config.train.seed)  # the decoder's and backbone's initial weights
        net, views = restoration_parts(pre)
        result = _train(pre, folder, resume, info, model=net, train_set=views)
    else:
        if info.is_main:
            images = config.train.phantom_pretrain.images
            log.info("phantom pretraining: %d phantoms in %s", images, folder)
            generate_phantoms(config, folder / PHANTOMS_DIR)
        D.barrier(info)
        pre = pretraining_config(config, folder / PHANTOMS_DIR / "annotations.json")
        result = _train(pre, folder, resume, info)
    if info.is_main:
        weights = Path(result.best).relative_to(folder)  # the folder may move
        atomic_write_bytes(folder / DONE_MARK, json.dumps({"weights": str(weights)}).encode())
    D.barrier(info)
    return Path(finished_weights(folder) or result.best)


def _train(
    config: Config,
    run_dir: Path,
    resume: bool,
    info: D.DistInfo,
    model: nn.Module | None = None,
    train_set: Dataset | None = None,
    val_set: Dataset | None = None,
    evaluate: EvaluateFn | None = None,
    overlays: OverlayFn | None = None,
    init: Path | None = None,
) -> TrainResult:
    """One training in `run_dir` (the process group and the folder's lock are the caller's);
    `init`: pretrained weights the model starts from."""
    # Same initial weights on every rank (DDP would broadcast rank 0's anyway).
    seed_everything(config.train.seed)
    if train_set is None:
        train_set, val_set = _datasets(config)
    class_names, category_ids = _classes(train_set, config)
    config = _with_class_count(config, len(class_names))
    if config.train.lesion_repeat > 1:
        train_set = repeat_lesion_images(train_set, config.train.lesion_repeat)
    if model is None:
        from mammorcnn.model import build_model

        model = build_model(config.model if init is None else starting_from(config.model, init))
    if val_set is not None and len(val_set) == 0:
        raise ConfigError(f"{config.train.val_annotations}: the validation set is empty")
    if val_set is not None and evaluate is None:
        from mammorcnn.engine.training.validation import make_evaluator, make_overlays

        box_head = config.model.box_head
        evaluate = make_evaluator(
            val_set,
            info,
            config.train.batch_size,
            rank_decay=box_head.rank_decay,
            pectoral_weight=box_head.pectoral_weight,
            views=_views(val_set, box_head.pectoral_weight),
        )
        several = class_names if len(class_names) > 1 else None
        overlays = overlays or make_overlays(val_set, class_names=several)
    trainer = Trainer(
        model,
        train_set,
        config.train,
        run_dir,
        evaluate=evaluate,
        overlays=overlays,
        collate_fn=_collate(),
        metadata=weights_metadata(config, class_names, category_ids),
        dist_info=info,
    )
    trainer.check_start(resume)
    if resume:
        refuse_optimiser_changes(config, run_dir)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _record_config(config, run_dir, resume)
    result = trainer.fit(resume=resume)
    if info.is_main:
        log.info("training done: best weights %s", result.best)
    return result


def _collate():  # noqa: ANN202 - the data package's collate function
    from mammorcnn.data import collate_fn

    return collate_fn
