"""Training augmentation: torchvision.transforms.v2 on image, boxes and masks together.

Geometric transforms (flips, RandomAffine, an optional elastic deformation) move the
``tv_tensors`` Image, BoundingBoxes and Mask in one call; afterwards every box is re-derived
from its (moved) mask, because the box of a rotated box is larger than the box of the
rotated lesion. Boxes that became degenerate (lesion rotated or shifted out of the frame)
are removed with their labels, masks and ``mask_valid`` by ``SanitizeBoundingBoxes``. Intensity transforms touch the image only.
Evaluation never augments (the dataset applies this only when ``train=True``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from mammorcnn.data.crop import LesionCrop
from mammorcnn.data.elastic import SmoothElastic
from mammorcnn.errors import ConfigError


@dataclass
class AugmentConfig:
    """Augmentation settings; defaults are mild, mammogram-plausible changes."""

    # Master switch (the dataset also never augments when train=False).
    enabled: bool = True
    # Left-right flip probability. Off: preprocessing puts every chest wall on the left and
    # evaluation images always have it there, so a mirrored training image would show the
    # model a layout it never meets (and spend capacity on it).
    hflip_prob: float = 0.0
    # Up-down flip probability: keeps the chest wall on the left; CC views are roughly
    # symmetric up-down, and lesions occur in both halves.
    vflip_prob: float = 0.5
    # RandomAffine: rotation range (+-degrees), translation (fraction of the side), scale range.
    # Small, like the positioning differences between two acquisitions (masks nearest, image
    # bilinear, fill 0).
    rotation_degrees: float = 10.0
    translate: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)
    # Intensity, applied inside the breast only (pixels > 0): multiplicative contrast about the
    # breast mean in [1-c, 1+c], additive brightness in [-b, b], gamma in [low, high] (x**gamma):
    # exposure/processing differences between systems. The zero background stays zero
    # (hand-written: ColorJitter would blend towards the whole-image mean).
    brightness: float = 0.05
    contrast: float = 0.1
    gamma: tuple[float, float] = (0.8, 1.25)
    # Quantum noise: GaussianNoise's standard deviation (intensity units, image in [0, 1]);
    # applied to half of the images, 0 disables it.
    noise_std: float = 0.01
    # Boxes with a side shorter than this (model pixels) after augmentation are removed.
    min_box_size: float = 2.0
    # Train on square crops of this side (model pixels) instead of the whole SxS image; 0 = off.
    # Inference stays whole-image. With few, small lesions a crop shows each one more often
    # per minute of compute (docs/training.md, "Crops"; data/crop.py).
    crop_size: int = 0
    # Probability that a crop of an image with lesions is placed around one of them (whole
    # when it fits); otherwise it is centred on a random breast pixel.
    crop_lesion_prob: float = 0.5
    # Probability that a training image gets a lesion of another training image pasted in
    # (its mask's outline feathered, its rim matched to the tissue it lands on), before the
    # crop: more positives on more backgrounds from few lesions (data/paste.py; docs/training.md,
    # "Copy-paste"). 0 = off.
    paste_prob: float = 0.0
    # Size factor range of a pasted lesion (with the tissue cut out around it), drawn
    # log-uniformly per paste: the same mass then shows at other sizes against other tissue.
    # (1, 1) = pasted at its own size (and no random draw).
    paste_scale: tuple[float, float] = (1.0, 1.0)
    # Turn a pasted lesion by a random number of quarter turns (0, 90, 180 or 270 degrees,
    # exact: no interpolation); with its up-down flip, each of the 8 orientations of its box is
    # as likely. A mass has no preferred orientation on the film. False = no turn, no draw.
    paste_rotate: bool = False
    # Probability that a training image gets a synthetic mass drawn into its breast, before
    # the crop: a star-shaped outline (round, oval, lobulated, irregular or spiculated, as the
    # phantoms' masses) whose dome-shaped brightening is added to the real tissue, so the
    # tissue shows through and the mask is exact. Shapes and sizes no training mass has, on
    # real film (data/synthetic_mass.py; docs/training.md, "Synthetic masses"). Needs a set of
    # one class. 0 = off.
    synthetic_mass_prob: float = 0.0
    # Diameter of a synthetic mass as a fraction of the image side, drawn uniformly (at 512
    # px, 0.04-0.2 is 20-100 px; mini-MIAS's masses are 22-234 px, median 50).
    synthetic_mass_size: tuple[float, float] = (0.04, 0.2)
    # Its brightening at the centre as a fraction of the tissue's headroom to white (1 -
    # tissue), drawn uniformly; about 55 % of it at the margin, which is blurred. mini-MIAS's
    # masses exceed the tissue around them by 0.26-0.79 of its headroom (10th-90th
    # percentile, median 0.49) after preprocessing at 512 px.
    synthetic_mass_contrast: tuple[float, float] = (0.2, 0.7)
    # With data.preprocess.other_breast: probability that a training image's second channel
    # (its partner) is left empty, so the model also reads a film whose partner is missing
    # (a single-breast study, a PNG without the woman's other film) as a one-film model would.
    other_breast_dropout: float = 0.1
    # Probability of a smooth elastic deformation after the affine (data/elastic.py), so
    # lesion outlines and tissue change shape (compression differs between exposures). 0 = off.
    elastic_prob: float = 0.0
    # Its strength: the root-mean-square offset of a pixel, in model pixels.
    elastic_px: float = 4.0
    # Its smoothness: the offsets vary over about this many model pixels (Gaussian sigma of
    # the random field). Below about 16 px at 512-px images, tissue strands turn wavy like
    # seen through water, which no film shows; 32 bends masses and strands plausibly.
    elastic_sigma_px: float = 32.0

    def __post_init__(self) -> None:
        probs = (self.hflip_prob, self.vflip_prob)
        if not all(0 <= p <= 1 for p in probs):
            raise ConfigError("augment.hflip_prob and vflip_prob must be in [0, 1]")
        if not (0 < self.scale[0] <= self.scale[1] and 0 < self.gamma[0] <= self.gamma[1]):
            raise ConfigError("augment.scale and augment.gamma must be ranges of positive numbers")
        if min(self.rotation_degrees, self.translate, self.brightness, self.contrast) < 0:
            raise ConfigError("augment rotation, translate, brightness and contrast must be >= 0")
        if self.noise_std < 0 or self.min_box_size < 1 or self.contrast >= 1:
            raise ConfigError("augment.noise_std >= 0, min_box_size >= 1 and contrast < 1 needed")
        if self.crop_size != 0 and self.crop_size < 32:
            raise ConfigError(f"augment.crop_size must be 0 (off) or >= 32, got {self.crop_size}")
        if not 0 <= self.crop_lesion_prob <= 1:
            raise ConfigError("augment.crop_lesion_prob must be in [0, 1]")
        if not 0 <= self.paste_prob <= 1:
            raise ConfigError("augment.paste_prob must be in [0, 1]")
        if not 0 < self.paste_scale[0] <= self.paste_scale[1]:
            raise ConfigError("augment.paste_scale must be a range of positive numbers")
        if not 0 <= self.synthetic_mass_prob <= 1:
            raise ConfigError("augment.synthetic_mass_prob must be in [0, 1]")
        if not 0 < self.synthetic_mass_size[0] <= self.synthetic_mass_size[1] < 0.5:
            raise ConfigError("augment.synthetic_mass_size must be a range within (0, 0.5)")
        if not 0 < self.synthetic_mass_contrast[0] <= self.synthetic_mass_contrast[1] <= 1:
            raise ConfigError("augment.synthetic_mass_contrast must be a range within (0, 1]")
        if not 0 <= self.other_breast_dropout <= 1:
            raise ConfigError("augment.other_breast_dropout must be in [0, 1]")
        if not 0 <= self.elastic_prob <= 1:
            raise ConfigError("augment.elastic_prob must be in [0, 1]")
        if self.elastic_px < 0 or self.elastic_sigma_px <= 0:
            raise ConfigError("augment.elastic_px must be >= 0 and elastic_sigma_px > 0")
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        self.gamma = (float(self.gamma[0]), float(self.gamma[1]))
        self.paste_scale = (float(self.paste_scale[0]), float(self.paste_scale[1]))
        self.synthetic_mass_size = tuple(map(float, self.synthetic_mass_size))
        self.synthetic_mass_contrast = tuple(map(float, self.synthetic_mass_contrast))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scale"], data["gamma"] = list(self.scale), list(self.gamma)
        data["paste_scale"] = list(self.paste_scale)
        data["synthetic_mass_size"] = list(self.synthetic_mass_size)
        data["synthetic_mass_contrast"] = list(self.synthetic_mass_contrast)
        return data


class BreastIntensity(v2.Transform):
    """Random gamma, contrast and brightness on the breast's pixels (> 0) only.

    Hand-written because ``ColorJitter``'s contrast blends towards the whole-image mean and
    its brightness scales everything, which would lift the zero background that preprocessing
    sets on purpose; torchvision has no gamma transform with a random range.
    """

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, brightness: float, contrast: float, gamma: tuple[float, float]) -> None:
        super().__init__()
        self.brightness, self.contrast, self.gamma = brightness, contrast, gamma

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        def uniform(low: float, high: float) -> float:
            return float(torch.empty(1).uniform_(low, high)) if high > low else low

        log_gamma = uniform(*(torch.tensor(self.gamma).log().tolist()))
        return {
            "gamma": float(torch.tensor(log_gamma).exp()),
            "contrast": uniform(1 - self.contrast, 1 + self.contrast),
            "brightness": uniform(-self.brightness, self.brightness),
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        image = inpt.as_subclass(torch.Tensor)
        inside = image > 0
        if not inside.any():
            return inpt
        out = image.clamp(0, 1) ** params["gamma"]
        mean = out[inside].mean()
        out = (out - mean) * params["contrast"] + mean + params["brightness"]
        out = torch.where(inside, out.clamp(0, 1), image)
        return tv_tensors.wrap(out, like=inpt)


class Augmentation:
    """Callable ``(image CxSxS, target) -> (image, target)`` built from an AugmentConfig.

    Every channel (the film and, with ``other_breast``, its partner) gets the same crop, warp
    and intensity change, so the two stay aligned as preprocessing left them.
    """

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config
        self.crop = (
            LesionCrop(config.crop_size, config.crop_lesion_prob) if config.crop_size else None
        )
        geometric: list[v2.Transform] = [
            v2.RandomHorizontalFlip(config.hflip_prob),
            v2.RandomVerticalFlip(config.vflip_prob),
            v2.RandomAffine(
                degrees=config.rotation_degrees,
                translate=(config.translate, config.translate),
                scale=config.scale,
                interpolation=v2.InterpolationMode.BILINEAR,  # masks always use nearest
                fill=0,
            ),
        ]
        if config.elastic_prob > 0 and config.elastic_px > 0:
            elastic = SmoothElastic(config.elastic_px, config.elastic_sigma_px)
            geometric.append(v2.RandomApply([elastic], p=config.elastic_prob))
        self.geometric = v2.Compose(geometric)
        self.sanitize = v2.SanitizeBoundingBoxes(
            min_size=config.min_box_size, labels_getter=_per_instance
        )
        photometric: list[v2.Transform] = [
            BreastIntensity(config.brightness, config.contrast, config.gamma)
        ]
        if config.noise_std > 0:
            photometric.append(v2.RandomApply([v2.GaussianNoise(sigma=config.noise_std)], p=0.5))
        self.photometric = v2.Compose(photometric)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict]:
        if self.crop is not None:
            image, target = self.crop(image, target)
        size = tuple(image.shape[-2:])
        count = len(target["boxes"])
        sample = {
            "image": tv_tensors.Image(image),
            "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=size),
            "masks": tv_tensors.Mask(target["masks"]),
            "labels": target["labels"],
            "mask_valid": target.get("mask_valid", torch.ones(count, dtype=torch.bool)),
        }
        sample = self.geometric(sample)
        boxes = boxes_from_masks(sample["masks"], sample["boxes"], sample["mask_valid"])
        sample["boxes"] = tv_tensors.wrap(boxes, like=sample["boxes"])
        sample = self.sanitize(v2.ClampBoundingBoxes()(sample))
        out_image = self.photometric(sample["image"])
        new_target = dict(target)
        new_target["boxes"] = sample["boxes"].as_subclass(torch.Tensor).float()
        new_target["masks"] = sample["masks"].as_subclass(torch.Tensor)
        new_target["labels"] = sample["labels"]
        new_target["mask_valid"] = sample["mask_valid"]
        return out_image.as_subclass(torch.Tensor), new_target


def _per_instance(sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """What SanitizeBoundingBoxes removes along with a box (a named function, not a lambda,
    so datasets stay picklable for spawn-started DataLoader workers)."""
    return sample["labels"], sample["mask_valid"]


def boxes_from_masks(
    masks: torch.Tensor, boxes: torch.Tensor, mask_valid: torch.Tensor
) -> torch.Tensor:
    """Tight x1,y1,x2,y2 (end-exclusive) box of each non-empty mask.

    A box-only instance (``mask_valid`` False) with an empty mask keeps its transformed box;
    an instance with a real mask that left the frame gets a zero box (then removed).
    """
    masks = masks.as_subclass(torch.Tensor).bool()
    out = boxes.as_subclass(torch.Tensor).clone().float()
    if masks.shape[0] == 0:
        return out
    rows, cols = masks.any(2), masks.any(1)  # (N, H), (N, W)
    present = rows.any(1)
    h_idx = torch.arange(masks.shape[1], device=masks.device)
    w_idx = torch.arange(masks.shape[2], device=masks.device)
    big = masks.shape[1] + masks.shape[2]
    y1 = torch.where(rows, h_idx, big).amin(1)
    y2 = torch.where(rows, h_idx, -1).amax(1) + 1
    x1 = torch.where(cols, w_idx, big).amin(1)
    x2 = torch.where(cols, w_idx, -1).amax(1) + 1
    derived = torch.stack([x1, y1, x2, y2], 1).float()
    out[present] = derived[present]
    out[~present & mask_valid.bool()] = 0.0
    return out
