"""Restoration pretraining: the configs and parts of the self-supervised stage.

A run with ``train.restore_pretrain.epochs > 0`` first trains its backbone to restore
corrupted views of unlabelled images in RUN/pretrain, then trains the detector from that
backbone (docs/training.md, "Restoration pretraining"). The stage shares the phantom
pretraining's folder layout and resume rules (`phantom_pretrain.py`); `run.py` runs it.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.utils.data import Dataset

from mammorcnn.config import Config


def restoration_config(config: Config) -> Config:
    """The config of the restoration stage: the run's model, data and optimiser, on the
    stage's images (the training set's by default).

    No validation (there is nothing to detect), no lesion repeats, copy-paste or drawn masses
    (nothing is labelled), the last checkpoint kept.
    """
    pre = copy.deepcopy(config)
    stage = config.train.restore_pretrain
    pre.train.train_annotations = stage.images or config.train.train_annotations
    pre.train.val_annotations = None
    pre.train.epochs = stage.epochs
    pre.train.lesion_repeat = 1
    pre.train.select = "last"
    pre.train.restore_pretrain.epochs = 0
    pre.data.augment.paste_prob = 0.0
    pre.data.augment.synthetic_mass_prob = 0.0
    return pre


def restoration_parts(pre: Config) -> tuple[nn.Module, Dataset]:
    """The network (the detector's backbone and a decoder) and the corrupted views it
    restores, built from the stage's config (`restoration_config`)."""
    from mammorcnn.data import CocoMammoDataset
    from mammorcnn.data.restoration import CorruptionSettings, RestorationDataset
    from mammorcnn.model.restoration import RestorationNet

    stage = pre.train.restore_pretrain
    settings = CorruptionSettings(
        stage.intensity_prob, stage.shuffle_prob, stage.paint_prob, stage.inpaint_share
    )
    images = CocoMammoDataset(pre.train.train_annotations, pre.data, train=True)
    return RestorationNet(pre.model), RestorationDataset(images, settings)
