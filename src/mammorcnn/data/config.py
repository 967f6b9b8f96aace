"""DataConfig: the ``data`` section of the run configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from mammorcnn.data.augment import AugmentConfig
from mammorcnn.data.preprocess import PreprocessConfig
from mammorcnn.errors import ConfigError


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
    # Leave out of training the images without annotations that are marked has_other_findings
    # with any of these types (e.g. [asymmetry, architectural_distortion]): otherwise their
    # findings, often mass-like densities, are trained as background. Validation and evaluation
    # sets keep them (they count for false positives). [] keeps all. docs/data.md.
    train_skip_findings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        skip = self.train_skip_findings
        if not isinstance(skip, list) or not all(isinstance(t, str) and t for t in skip):
            raise ConfigError(
                f"data.train_skip_findings must be a list of finding types, got {skip!r}"
            )
