"""Rebuild a trained model from its weights file alone, and the settings its inputs need.

A weights file carries the model config, the preprocessing settings and the class names
(`weights_metadata`), so `predict` and `evaluate` need nothing but the file. The metadata is
untrusted (files are shared), so the model config goes through the same strict loader as a
YAML config, and the tensors through `check_compatible` before anything is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mammorcnn.config import check_input_channels, config_from_dict, parse_overrides
from mammorcnn.data.preprocess import PreprocessConfig
from mammorcnn.engine.device import resolve_device
from mammorcnn.errors import CheckpointError, ConfigError
from mammorcnn.model import ModelConfig, build_model

log = logging.getLogger("mammorcnn.inference")

# Inside a run folder, the weights `--weights RUN_DIR` means.
BEST_IN_RUN = Path("checkpoints") / "best.safetensors"


@dataclass
class LoadedModel:
    """A model ready for inference, with what its checkpoint says about its inputs/outputs."""

    model: nn.Module  # in eval mode, on `device`
    model_config: ModelConfig
    preprocess: PreprocessConfig  # the settings it was trained with; inputs must match
    class_names: list[str]  # label k (1..C) is class_names[k - 1]
    category_ids: list[int]  # ... and COCO category id category_ids[k - 1]
    path: Path
    device: torch.device
    metadata: dict[str, Any]

    @property
    def categories(self) -> list[dict[str, Any]]:
        """COCO ``categories`` entries of the model's classes."""
        return [{"id": i, "name": n} for i, n in zip(self.category_ids, self.class_names)]


def resolve_weights(path: Path) -> Path:
    """A weights file, or a training run folder (its ``checkpoints/best.safetensors``)."""
    path = Path(path)
    if path.is_dir():
        best = path / BEST_IN_RUN
        if not best.is_file():
            raise CheckpointError(path, f"is a folder without {BEST_IN_RUN}; give a weights file")
        return best
    return path


def _model_config(path: Path, metadata: dict) -> ModelConfig:
    data = metadata.get("model_config")
    if not isinstance(data, dict):
        raise CheckpointError(path, "checkpoint lacks the model config it was trained with")
    try:
        config = config_from_dict({"model": data}, source=path).model
    except ConfigError as error:
        raise CheckpointError(path, f"invalid model config in the checkpoint ({error})") from None
    # The weights come from the checkpoint: never download or read the pretrained weights the
    # training run started from. Their presence decided the norm layers (frozen BN has no
    # num_batches_tracked), so that choice is fixed before they are dropped.
    backbone = config.backbone
    backbone.norm, backbone.trainable_layers = config.backbone_training()
    backbone.weights = None
    config.init_checkpoint = None
    return config


def _classes(path: Path, metadata: dict, num_classes: int) -> tuple[list[str], list[int]]:
    names, ids = metadata.get("class_names"), metadata.get("category_ids")
    if (
        not isinstance(names, list)
        or not isinstance(ids, list)
        or len(names) != num_classes
        or len(ids) != num_classes
        or not all(isinstance(n, str) for n in names)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise CheckpointError(
            path,
            f"class names/category ids in the checkpoint do not describe {num_classes} class(es)",
        )
    return names, ids


def checkpoint_preprocess(path: Path, metadata: dict) -> PreprocessConfig:
    """The preprocessing settings the model was trained with, checked strictly."""
    data = metadata.get("preprocess")
    if not isinstance(data, dict):
        raise CheckpointError(
            path, "checkpoint lacks the 'preprocess' settings it was trained with"
        )
    try:
        return config_from_dict({"data": {"preprocess": data}}, source=path).data.preprocess
    except ConfigError as error:
        raise CheckpointError(path, f"invalid preprocess settings ({error})") from None


def check_preprocess_overrides(loaded: LoadedModel, overrides: Sequence[str]) -> None:
    """Refuse ``key=value`` preprocessing settings that differ from the checkpoint's.

    The model only works on inputs prepared as during its training, so the settings are not
    an option of `predict`; a user who states them (``--image-size 512``) gets a clear refusal
    naming the field instead of silently wrong detections.
    """
    if not overrides:
        return
    from mammorcnn.engine.checkpoint import check_same_settings

    nested, _ = parse_overrides([f"data.preprocess.{item}" for item in overrides])
    merged = {**loaded.preprocess.to_dict(), **nested["data"]["preprocess"]}
    try:
        current = config_from_dict({"data": {"preprocess": merged}}).data.preprocess
    except ConfigError as error:
        raise ConfigError(f"preprocessing setting: {error}") from None
    check_same_settings(loaded.path, loaded.metadata, "preprocess", current.to_dict())


def load_trained_model(
    weights: Path,
    device: torch.device | str = "cpu",
    *,
    fast: bool = False,
    proposals: int | None = None,
    bf16: bool = False,
    bf16_hint: bool = True,
) -> LoadedModel:
    """Weights file (or run folder) -> model in eval mode on ``device`` + its input settings.

    ``fast`` applies the inference-only rewrites measured in docs/performance.md (BN folded
    into the convs, channels_last; same detections), ``proposals`` the RPN's post-NMS count
    and ``bf16`` bfloat16 convs/FC; leave them off for export (it folds BN itself).
    ``bf16_hint`` logs, on a CPU that computes bfloat16 natively, that ``--bf16`` would run
    faster: only for the commands that have that option (predict, evaluate).

    Raises CheckpointError for an unreadable, foreign or inconsistent file (a config whose
    class count or architecture does not match the tensors is named by `check_compatible`).
    """
    from mammorcnn.engine.checkpoint import check_compatible, load_weights
    from mammorcnn.model.speed import cpu_has_bf16

    path = resolve_weights(Path(weights))
    device = resolve_device(device) if isinstance(device, str) else device
    state_dict, metadata = load_weights(path)
    model_config = _model_config(path, metadata)
    preprocess = checkpoint_preprocess(path, metadata)
    try:
        check_input_channels(preprocess, model_config)
    except ConfigError as error:
        raise CheckpointError(path, f"inconsistent metadata: {error}") from None
    class_names, category_ids = _classes(path, metadata, model_config.num_classes)
    model = build_model(model_config)
    check_compatible(path, state_dict, model)
    model.load_state_dict(state_dict)
    model.eval().to(device)
    if fast or proposals is not None or bf16:
        from mammorcnn.model.speed import optimize_for_inference

        if bf16 and device.type == "cpu" and not cpu_has_bf16():
            log.warning("this CPU has no native bfloat16 (AVX512_BF16/AMX): --bf16 may be slower")
        model = optimize_for_inference(
            model, fold_bn=fast, channels_last=fast, test_proposals=proposals, bf16=bf16, copy=False
        )
    log.info(
        "loaded %s: %s backbone, %d class(es) %s, input %d px, on %s%s",
        path, model_config.backbone.name, model_config.num_classes, class_names,
        preprocess.image_size, device, " in bfloat16" if bf16 else "",
    )  # fmt: skip
    if bf16_hint and not bf16 and device.type == "cpu" and cpu_has_bf16():
        log.info(
            "this CPU computes bfloat16 natively (AVX512_BF16/AMX): --bf16 runs about 2x "
            "faster at a small cost in accuracy (docs/performance.md)"
        )
    return LoadedModel(
        model, model_config, preprocess, class_names, category_ids, path, device, metadata
    )
