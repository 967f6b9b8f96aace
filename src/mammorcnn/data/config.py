"""DataConfig: the ``data`` section of the run configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from mammorcnn.data.augment import AugmentConfig
from mammorcnn.data.preprocess import PreprocessConfig


@dataclass
class DataConfig:
    """How images become model inputs: preprocessing, augmentation and the disk cache."""

    # Raw image -> SxS model input (crop, orientation, resize, normalisation).
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    # Training-time augmentation (never applied to evaluation datasets).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Folder of the preprocessed-image cache; None = $XDG_CACHE_HOME/mammorcnn/preprocessed
    # (~/.cache/...). Entries are keyed by file and settings, so one folder serves many runs.
    cache_dir: str | None = None
    # Use the disk cache at all (off: every epoch decodes every image again).
    cache: bool = True
