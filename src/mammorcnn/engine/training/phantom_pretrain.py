"""Phantom pretraining: the configs and files of the stage that runs before the real data.

A run with ``train.phantom_pretrain.images > 0`` first trains its own model on generated
phantom mammograms in RUN/pretrain, then starts the real training from those weights
(docs/training.md, "Phantom pretraining"). This module decides what that stage trains with;
`run.py` runs it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from mammorcnn.config import Config
from mammorcnn.errors import ConfigError
from mammorcnn.model.config import ModelConfig

PRETRAIN_DIR = "pretrain"
PHANTOMS_DIR = "phantoms"
PHANTOM_SETTINGS = "settings.json"  # written last: the phantoms are complete
DONE_MARK = "pretrained.json"  # written last: the weights (relative to the folder) to start from


def wants_pretraining(config: Config) -> bool:
    """Whether the run first pretrains in RUN/pretrain (on phantoms or by restoration)."""
    return config.train.phantom_pretrain.images > 0 or config.train.restore_pretrain.epochs > 0


def check_pretraining(config: Config) -> None:
    """One-line ConfigError when a pretraining is combined with other initial weights or
    with the other pretraining (the model starts from one of them)."""
    model = config.model
    phantoms = config.train.phantom_pretrain.images > 0
    restoration = config.train.restore_pretrain.epochs > 0
    if phantoms and restoration:
        raise ConfigError(
            "train.phantom_pretrain.images > 0 and train.restore_pretrain.epochs > 0 are both "
            "set: the model can start from one pretraining; set the other to 0"
        )
    if (phantoms or restoration) and model.uses_pretrained:
        stage = "train.phantom_pretrain.images" if phantoms else "train.restore_pretrain.epochs"
        other = "model.init_checkpoint" if model.init_checkpoint else "model.backbone.weights"
        raise ConfigError(
            f"{stage} > 0 and {other} are both set: the model can start from one of them; "
            "set the other to null"
        )
    if restoration and not (config.train.restore_pretrain.images or config.train.train_annotations):
        raise ConfigError(
            "train.restore_pretrain.epochs > 0 needs images to restore: set "
            "train.restore_pretrain.images or train.train_annotations (a COCO JSON)"
        )


def stage_config(config: Config, annotations: str | Path, epochs: int) -> Config:
    """The config of a pretraining stage (phantoms or restoration): the run's model, data and
    optimiser on `annotations` for `epochs`.

    No validation, no copy-paste or drawn masses, no lesion repeats, the last checkpoint
    kept, and no pretraining of its own.
    """
    pre = copy.deepcopy(config)
    pre.data.augment.paste_prob = 0.0
    pre.data.augment.synthetic_mass_prob = 0.0
    pre.train.train_annotations = str(annotations)
    pre.train.val_annotations = None
    pre.train.epochs = epochs
    pre.train.lesion_repeat = 1
    pre.train.select = "last"
    pre.train.phantom_pretrain.images = 0
    pre.train.restore_pretrain.epochs = 0
    return pre


def pretraining_config(config: Config, annotations: Path) -> Config:
    """The config of the phantom stage: `stage_config` with one class (phantom masses; every
    phantom has its own, so copy-paste, drawn masses and lesion repeats are off)."""
    pre = stage_config(config, annotations, config.train.phantom_pretrain.epochs)
    pre.model.num_classes = 1
    return pre


def starting_from(model: ModelConfig, weights: Path) -> ModelConfig:
    """The run's model config initialised from the pretraining's `weights`.

    The norm layers and trainable stages stay what they are from random initialisation
    (``backbone_training``'s rule would otherwise freeze them, as for ImageNet weights): the
    pretraining was short and synthetic, so every layer still has to learn the real images.
    This is also what `predict` rebuilds from the checkpoint's config, which names no
    initial weights.
    """
    out = copy.deepcopy(model)
    out.backbone.norm, out.backbone.trainable_layers = model.backbone_training()
    out.init_checkpoint = str(weights)
    return out


def generate_phantoms(config: Config, folder: Path) -> Path:
    """Write the phantoms into `folder` (once: a finished set of the same settings is
    reused); their COCO JSON."""
    from mammorcnn.atomic import atomic_write_bytes
    from mammorcnn.data.synthetic.dataset import generate_phantom_dataset

    stage = config.train.phantom_pretrain
    settings = dataclasses.asdict(stage) | {"image_size": config.data.preprocess.image_size}
    settings = json.loads(json.dumps(settings))  # tuples as lists, as they read back
    made = folder / PHANTOM_SETTINGS
    annotations = folder / "annotations.json"
    if made.is_file() and annotations.is_file() and json.loads(made.read_text()) == settings:
        return annotations
    generate_phantom_dataset(
        folder,
        stage.images,
        stage.seed,
        config.data.preprocess.image_size,
        masses_per_image=stage.masses_per_image,
        negative_fraction=stage.negative_fraction,
        size_range=stage.size_range,
        contrast_range=stage.contrast_range,
    )
    atomic_write_bytes(made, json.dumps(settings, indent=1).encode())  # last: marks them done
    return annotations


def finished_weights(folder: Path) -> Path | None:
    """The weights of a finished pretraining in `folder` (None if it has not finished)."""
    mark = folder / DONE_MARK
    if not mark.is_file():
        return None
    return folder / json.loads(mark.read_text())["weights"]
