"""PreprocessConfig: every knob of the raw-image -> SxS model-input step, with its default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mammorcnn.errors import ConfigError


@dataclass
class PreprocessConfig:
    """Settings of :func:`mammorcnn.data.preprocess.preprocess` (part of the cache key)."""

    # Side S of the square model input; the breast's longer side is resized to exactly S.
    image_size: int = 1024
    # Crop to the breast region (False keeps the whole image, e.g. for pre-cropped datasets).
    crop_to_breast: bool = True
    # Margin added on each side of the breast box, as a fraction of the box's longer side
    # (0.02 at S=1024 is about 20 model pixels), clipped to the image.
    margin: float = 0.02
    # Radius of the opening that detaches film labels, markers and film-edge strips from the
    # breast before the largest connected component is taken, as a fraction of the longer
    # side of the segmentation image (about S pixels long); 0 disables the opening.
    opening_fraction: float = 0.005
    # Multiplier on the Otsu threshold separating breast from background: < 1 keeps more of
    # the faint skin line and fatty periphery, > 1 less.
    threshold_scale: float = 0.5
    # Zero everything outside the breast mask (labels and markers inside the crop); the mask
    # is first dilated by `mask_dilation_px` model pixels so the skin line is never cut.
    suppress_outside_breast: bool = True
    mask_dilation_px: int = 4
    # Percentiles of the breast's intensities mapped to 0 and 1 (values beyond are clipped).
    # Robust to a few saturated pixels (clips, markers) where min/max would not be.
    percentiles: tuple[float, float] = (0.5, 99.5)
    # Local contrast (CLAHE: contrast-limited adaptive histogram equalisation) of the
    # normalised breast, after the percentiles: a faint mass inside dense tissue gets the
    # contrast a fatty breast gives it. `clahe_clip_limit` is scikit-image's clip limit
    # (0.01 is its default, up to 1; higher equalises harder); 0 disables it (the default).
    # Values in (0, 0.01) are refused: there scikit-image's redistribution of the clipped
    # counts overflows on uniform tissue and turns it white.
    # `clahe_kernel_fraction` is the tile side as a fraction of S, so that the same
    # setting equalises the same anatomy at any image_size (0.125 = eight tiles across).
    clahe_clip_limit: float = 0.0
    clahe_kernel_fraction: float = 0.125
    # Orientation: use DICOM laterality (ImageLaterality, then Laterality) when present;
    # False lets the image content decide always (for archives whose pixels ignore the tags).
    trust_laterality: bool = True
    # Give the model the same woman's other breast in the same view as a second channel,
    # preprocessed alike (so both have the chest wall on the left and fill the frame the same
    # way), for the asymmetry a reader looks for (docs/training.md, "The other breast").
    # Images pair by patient_id, view and laterality; an image without its partner gets an
    # empty second channel. Needs model.backbone.in_channels: 2. Not part of the cache key:
    # each film is preprocessed on its own either way.
    other_breast: bool = False

    def __post_init__(self) -> None:
        low, high = self.percentiles
        if self.image_size < 8:
            raise ConfigError(f"preprocess.image_size must be >= 8, got {self.image_size}")
        if not 0 <= self.margin <= 1 or not 0 <= self.opening_fraction < 0.5:
            raise ConfigError(
                "preprocess.margin must be in [0, 1] and opening_fraction in [0, 0.5)"
            )
        if not 0 <= low < high <= 100:
            raise ConfigError(
                f"preprocess.percentiles must be 0 <= low < high <= 100, got {self.percentiles}"
            )
        clip_ok = self.clahe_clip_limit == 0 or 0.01 <= self.clahe_clip_limit <= 1
        if not clip_ok or not 0 < self.clahe_kernel_fraction <= 1:
            raise ConfigError(
                "preprocess.clahe_clip_limit must be 0 (off) or in [0.01, 1], and "
                "clahe_kernel_fraction in "
                f"(0, 1], got {self.clahe_clip_limit} and {self.clahe_kernel_fraction}"
            )
        if self.threshold_scale <= 0 or self.mask_dilation_px < 0:
            raise ConfigError("preprocess.threshold_scale must be > 0 and mask_dilation_px >= 0")
        self.percentiles = (float(low), float(high))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings (used for the cache key and written into outputs)."""
        data = asdict(self)
        data["percentiles"] = list(self.percentiles)
        return data

    def image_settings(self) -> dict[str, Any]:
        """The settings that change one film's preprocessed pixels (the cache key's)."""
        data = self.to_dict()
        del data["other_breast"]
        return data
