"""Restoration pretraining: the configs and parts of the self-supervised stage.

A run with ``train.restore_pretrain.epochs > 0`` first trains its backbone to restore
corrupted views of unlabelled images in RUN/pretrain, then trains the detector from that
backbone (docs/training.md, "Restoration pretraining"). The stage shares the phantom
pretraining's folder layout and resume rules (`phantom_pretrain.py`); `run.py` runs it.
"""

from __future__ import annotations

from torch import nn
from torch.utils.data import Dataset

from mammorcnn.config import Config
from mammorcnn.engine.training.phantom_pretrain import stage_config


def restoration_config(config: Config) -> Config:
    """The config of the restoration stage: `stage_config` on the stage's images (the
    training set's by default); nothing is labelled, so nothing is validated or pasted."""
    stage = config.train.restore_pretrain
    return stage_config(config, stage.images or config.train.train_annotations, stage.epochs)


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
