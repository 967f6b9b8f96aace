"""The model's configuration: one dataclass tree whose defaults are the specification.

Every field carries a comment (in the style of matterport's ``config.py``) saying what it
controls and where the default comes from: "docs/architecture.md §N" for section N of the
specification, "torchvision"/"paper" where the specification is silent and we
follow torchvision's Mask R-CNN or the Mask R-CNN / FPN papers. ``docs/architecture.md`` gives
the reasons for every open choice.

Each section checks its own values in ``__post_init__`` (as every config section does), so a
bad value fails where the section is built, naming the field; :func:`checked_copy` runs those
checks again on a tree changed after construction (``tiny_config``, a user's edits).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from mammorcnn.errors import ConfigError

#: The backbone names a config may use: torchvision ResNets, or timm transformers.
ResNetName = Literal["resnet18", "resnet34", "resnet50", "resnet101"]
TransformerName = Literal["vit", "deit", "swin"]
BackboneName = Literal[ResNetName, TransformerName]
RESNET_NAMES: tuple[str, ...] = get_args(ResNetName)
TRANSFORMER_NAMES: tuple[str, ...] = get_args(TransformerName)
BACKBONE_NAMES = RESNET_NAMES + TRANSFORMER_NAMES
#: The ResNet's normalisation layers (None: the pretrained-default rule picks one).
Norm = Literal["frozen_bn", "bn", "gn"]
NORMS: tuple[str, ...] = get_args(Norm)
#: The normalisation the FPN and the mask head may add: GroupNorm of 32 groups (None: none).
HeadNorm = Literal["gn"]
GROUPS = 32


#: Names of the pyramid levels every backbone returns, and their strides in input pixels
#: (docs/architecture.md §2.1: P2..P5 from C2..C5, plus P6 for the largest masses).
LEVEL_NAMES = ("p2", "p3", "p4", "p5", "p6")
LEVEL_STRIDES = (4, 8, 16, 32, 64)
# Test-time scales outside this range would shrink masses below the smallest anchors or cost
# more than 9x the time of the plain view (model.box_head.test_time_scales).
MIN_TEST_SCALE, MAX_TEST_SCALE = 0.5, 3.0
# A context box beyond 4x the box would hold mostly other tissue than the finding's
# surroundings (model.box_head.context_scale).
MAX_CONTEXT_SCALE = 4.0


@dataclass
class BackboneConfig:
    """Feature extractor + FPN producing P2..P6 (strides 4..64), all ``fpn_channels`` wide."""

    # Which network: resnet18/34/50/101 (torchvision, 1-channel stem) or vit/deit/swin (timm,
    # in_chans=1). docs/architecture.md §2.1: ResNet-50; §2.2: ViT, DeiT, Swin were tried.
    name: BackboneName = "resnet50"
    # Input channels: 1, the film (docs/architecture.md §1); 2, the film and the same woman's
    # other breast in the same view (data.preprocess.other_breast: true, which needs this).
    in_channels: int = 1
    # Initial backbone weights. None: random init (works offline). "imagenet": torchvision's
    # ImageNet weights enum for ResNets (downloads, needs internet) / timm's pretrained tag for
    # transformers. Otherwise a local .pth/.pt/.safetensors file; RGB conv1 is summed to 1 channel.
    weights: str | None = None
    # Normalisation layers of the ResNet: "frozen_bn" (fixed statistics, the usual choice when
    # fine-tuning pretrained weights), "bn" (trainable BatchNorm), "gn" (GroupNorm, 32 groups).
    # None = torchvision's rule: frozen_bn when any pretrained weights are given, else bn.
    norm: Norm | None = None
    # How many ResNet stages train, counted from the top (0..5; 5 = everything incl. the stem).
    # None = torchvision's rule: 3 with pretrained weights, 5 when training from scratch.
    trainable_layers: int | None = None
    # Channels of every pyramid level P2..P6.
    # docs/architecture.md §2.1: lateral 1x1 convs reduce to 256.
    fpn_channels: int = 256
    # Normalisation after each of the FPN's 1x1 lateral and 3x3 output convs (ResNets only):
    # None, as the FPN paper and torchvision (convs with a bias, no norm); "gn", GroupNorm of
    # 32 groups, as He, Girshick and Dollar (2019) used in the FPN and heads to train Mask R-CNN
    # from scratch. "gn" needs fpn_channels divisible by 32.
    fpn_norm: HeadNorm | None = None
    # Start every ResNet residual block as the identity: the last norm layer of its residual
    # branch starts with weight 0 (torchvision's zero_init_residual; Goyal et al. 2017, He et
    # al., "Bag of Tricks", 2019), which eases training from random weights. Loaded weights
    # (imagenet, a file, model.init_checkpoint) replace it. ResNets only.
    zero_init_residual: bool = False
    # timm model for vit/deit/swin; None picks a ResNet-50-sized default for the name
    # (vit_small_patch16_224, deit_small_patch16_224, swin_tiny_patch4_window7_224).
    timm_model: str | None = None
    # Extra keyword arguments for timm.create_model (e.g. depth=2, embed_dim=96 for tiny tests).
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    # Input size the transformer is built for (its positional embedding / Swin windows); images
    # of another size still work for ViT/DeiT (positions interpolated). Set it to the data's S.
    img_size: int = 1024

    def __post_init__(self) -> None:
        """Reject a backbone that cannot be built (the loader checks types; this, values)."""
        if self.name not in BACKBONE_NAMES:
            raise ConfigError(
                f"model.backbone.name: unknown {self.name!r}; use one of {BACKBONE_NAMES}"
            )
        if self.norm not in (None, *NORMS):
            raise ConfigError(
                f"model.backbone.norm: unknown {self.norm!r}; use frozen_bn, bn or gn"
            )
        if self.trainable_layers is not None and not 0 <= self.trainable_layers <= 5:
            raise ConfigError("model.backbone.trainable_layers: must be within 0..5")
        _require("model.backbone.fpn_channels", self.fpn_channels >= 1)
        _check_head_norm("model.backbone.fpn_norm", self.fpn_norm, self.fpn_channels)
        if self.fpn_norm is not None and self.name not in RESNET_NAMES:
            raise ConfigError(
                "model.backbone.fpn_norm: only for ResNet backbones (the transformers' "
                "pyramid has its own LayerNorm)"
            )
        if self.zero_init_residual and self.name not in RESNET_NAMES:
            raise ConfigError("model.backbone.zero_init_residual: only for ResNet backbones")
        if self.in_channels not in (1, 2):
            raise ConfigError(
                "model.backbone.in_channels: 1 (the film) or 2 (the film and the other "
                f"breast), got {self.in_channels}"
            )


@dataclass
class AnchorConfig:
    """Anchors: len(sizes) x len(aspect_ratios) per location on every pyramid level."""

    # Anchor sizes in units of the level's stride: size_px = s * stride, so [4,7,8,10,12]
    # give 16..48 px on P2 (stride 4) and 256..768 px on P6 (stride 64).
    # docs/architecture.md §3 (k-means).
    sizes: tuple[float, ...] = (4.0, 7.0, 8.0, 10.0, 12.0)
    # Aspect ratios as height / width (w = size/sqrt(r), h = size*sqrt(r); area = size^2).
    # docs/architecture.md §3: [1.5, 2.5, 3.6].
    aspect_ratios: tuple[float, ...] = (1.5, 2.5, 3.6)
    # Anchor centre inside its feature cell, in strides: 0.5 = the cell's centre.
    offset: float = 0.5

    def __post_init__(self) -> None:
        """At least one anchor shape, all of positive size."""
        _require("model.anchors.sizes", len(self.sizes) > 0 and min(self.sizes) > 0)
        _require(
            "model.anchors.aspect_ratios",
            len(self.aspect_ratios) > 0 and min(self.aspect_ratios) > 0,
        )


@dataclass
class RPNConfig:
    """Region proposal network: training targets and proposal selection."""

    # IoU at or above which an anchor is positive. docs/architecture.md §3: 0.7.
    fg_iou_thresh: float = 0.7
    # IoU below which an anchor is negative; in between is ignored. docs/architecture.md §3: 0.3.
    bg_iou_thresh: float = 0.3
    # Also make each ground truth's best-matching anchor(s) positive (Faster R-CNN paper), so
    # that small or oddly shaped lesions always get a positive anchor.
    best_anchor_positive: bool = True
    # Anchors sampled per image for the loss. paper: 256.
    batch_size_per_image: int = 256
    # Largest fraction of positives among the sampled anchors. paper: 0.5.
    positive_fraction: float = 0.5
    # Proposals kept per pyramid level before NMS, training. torchvision: 2000.
    pre_nms_top_n_train: int = 2000
    # Proposals kept per pyramid level before NMS, inference. torchvision: 1000.
    pre_nms_top_n_test: int = 1000
    # Proposals kept per image after NMS, training. torchvision: 2000.
    post_nms_top_n_train: int = 2000
    # Proposals kept per image after NMS, inference. torchvision: 1000. Mammograms hold one or
    # two lesions: 300 kept every lesion's proposal and the sensitivity at 256, 512 and 1024
    # px, with fewer false positives, and takes ~10 % off inference (docs/performance.md).
    post_nms_top_n_test: int = 300
    # IoU threshold of the proposal NMS. paper: 0.7.
    nms_thresh: float = 0.7
    # Proposals with object probability below this are dropped before NMS. torchvision: 0.
    score_thresh: float = 0.0
    # Smooth L1 transition point; docs/architecture.md §3 writes smooth_l1 with |x| < 1,
    # i.e. beta = 1.
    smooth_l1_beta: float = 1.0

    def __post_init__(self) -> None:
        """IoU thresholds ordered within [0, 1]; a sample that can hold positives."""
        _require("model.rpn.bg_iou_thresh", 0 <= self.bg_iou_thresh <= self.fg_iou_thresh <= 1)
        _require("model.rpn.positive_fraction", 0 < self.positive_fraction <= 1)


@dataclass
class BoxHeadConfig:
    """RoI Align for the detection head, the FC head, its targets and post-processing."""

    # RoI Align output for the detection head. docs/architecture.md §4: 7x7.
    roi_output_size: int = 7
    # Bilinear samples per bin side (2 -> 4 points per bin). docs/architecture.md §4: 2.
    sampling_ratio: int = 2
    # FPN level rule k = floor(k0 + log2(sqrt(wh) / canonical_scale)), clamped to P2..P5:
    # the RoI side that maps to level k0. FPN paper eq. 1: 224.
    canonical_scale: int = 224
    # k0, the level of a canonical_scale-sized RoI. FPN paper eq. 1: 4.
    canonical_level: int = 4
    # Units of the single shared FC layer. docs/architecture.md §5.1: 4096.
    fc_dim: int = 4096
    # The detection head also reads the RoI features of each box enlarged this many times
    # about its centre (its surroundings: a mass stands out from them, dense tissue goes on),
    # concatenated with the box's own: the FC's input doubles. None = the box alone (the
    # specification). model/context_roi.py; docs/training.md, "Context around the box".
    context_scale: float | None = None
    # Proposal/GT IoU at or above which a RoI is foreground. paper: 0.5.
    fg_iou_thresh: float = 0.5
    # Proposal/GT IoU below which a RoI is background (in between: ignored). paper: 0.5.
    bg_iou_thresh: float = 0.5
    # RoIs sampled per image for the head losses. Mask R-CNN paper (FPN): 512.
    batch_size_per_image: int = 512
    # Largest fraction of foreground RoIs among them. paper: 0.25.
    positive_fraction: float = 0.25
    # Share of the background RoIs taken from the proposals the RPN scores highest (the
    # false positives a reader would see) instead of at random; 0 = all random (the paper,
    # torchvision). On mini-MIAS masses 0.25 hurt (partial boxes of large masses become
    # negatives). model/hard_negatives.py; docs/training.md, "Hard negatives".
    hard_negative_fraction: float = 0.0
    # Box-delta weights (x, y, w, h); matterport BBOX_STD_DEV = 1/weights. torchvision.
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    # Smooth L1 transition point. docs/architecture.md §5.1 uses the same smooth_l1 as §3:
    # beta = 1.
    smooth_l1_beta: float = 1.0
    # Inference: detections with class probability below this are dropped. torchvision: 0.05.
    score_thresh: float = 0.05
    # Inference: IoU threshold of the per-class NMS on the detections. torchvision: 0.5.
    nms_thresh: float = 0.5
    # Inference: most detections kept per image (highest scores). torchvision: 100.
    detections_per_img: int = 100
    # Inference: also run the model on the up-down mirror of each image and merge the two
    # views (a finding's score is the mean over views, 0 where a view missed it; boxes and
    # masks are score-weighted means), which removes false positives only one view sees.
    # Doubles inference time; not part of an exported model. docs/evaluation.md.
    test_time_flip: bool = False
    # Inference: the image scales the model also runs at, each view mapped back to the image
    # and merged like the flipped one (1.0 is the image as preprocessed; (1.0, 1.25) adds a
    # view enlarged 1.25x). A finding the model sees at one scale only is halved, as with the
    # flip. Each scale costs about its square in time; with test_time_flip every scale is also
    # flipped. Not part of an exported model. docs/evaluation.md, "Test-time scales".
    test_time_scales: tuple[float, ...] = (1.0,)
    # Inference: after NMS (and after merging flipped views), drop a detection when a
    # higher-scoring one of its class covers more than this fraction of the smaller box
    # (intersection over the smaller area): box-IoU NMS keeps a small box inside a large one,
    # two marks on one finding, and one of them a false positive. None = off (the
    # specification: NMS only). model/nested.py; docs/evaluation.md, "Nested detections".
    nested_thresh: float | None = None
    # Inference over a set of images (evaluate, crossval, predict): lower each detection's
    # score by how strongly the same woman's other breast, in the same view, has a detection
    # of its class at the mirrored place: score * (1 - weight * support), support the other
    # score times a Gaussian of the distance. Dense tissue, the pectoral muscle and film
    # labels are roughly symmetric, masses are not. 0 = off (the specification: each image
    # alone). engine/inference/contralateral.py; docs/evaluation.md, "Contralateral
    # suppression".
    contralateral_weight: float = 0.0
    # The Gaussian's sigma, in breast coordinates (the breast's box is the unit square,
    # chest wall at x = 0): 0.1 is a tenth of the breast's width and height.
    contralateral_radius: float = 0.1
    # Inference, after the views merge and nested detections go (before the contralateral
    # rule): the k-th detection of an image and class (best first, k from 0) has its score
    # multiplied by rank_decay**k, so an image's second and third marks weigh less than its
    # first when images are compared under one threshold (a mammogram rarely holds two
    # masses; dense tissue draws several marks). 1 = off (the specification). Not part of an
    # exported model. engine/inference/rank_decay.py; docs/evaluation.md, "Rank decay".
    rank_decay: float = 1.0
    # Inference, last (after the rank decay): a detection centred in the pectoral muscle of
    # an MLO, ML, LM or LMO view (the muscle's edge found as the most contrasted straight line
    # from the breast's top edge to the chest wall) has its score multiplied by 1 - weight;
    # 1 drops it, 0 = off (the specification). Craniocaudal views and images of unknown view
    # are left as they are. Not part of an exported model. engine/inference/pectoral.py;
    # docs/evaluation.md, "Pectoral muscle".
    pectoral_weight: float = 0.0

    def __post_init__(self) -> None:
        """IoU thresholds ordered within [0, 1]; a sample that can hold positives; a real FC."""
        _require("model.box_head.bg_iou_thresh", 0 <= self.bg_iou_thresh <= self.fg_iou_thresh <= 1)
        _require(
            "model.box_head.nested_thresh",
            self.nested_thresh is None or 0 < self.nested_thresh <= 1,
        )
        _require("model.box_head.positive_fraction", 0 < self.positive_fraction <= 1)
        _require("model.box_head.hard_negative_fraction", 0 <= self.hard_negative_fraction <= 1)
        _require("model.box_head.contralateral_weight", 0 <= self.contralateral_weight <= 1)
        _require("model.box_head.contralateral_radius", 0 < self.contralateral_radius < 10)
        _require("model.box_head.rank_decay", 0 < self.rank_decay <= 1)
        _require("model.box_head.pectoral_weight", 0 <= self.pectoral_weight <= 1)
        _require(
            "model.box_head.test_time_scales",
            len(self.test_time_scales) > 0
            and all(MIN_TEST_SCALE <= s <= MAX_TEST_SCALE for s in self.test_time_scales),
        )
        _require("model.box_head.fc_dim", self.fc_dim >= 1)
        _require(
            "model.box_head.context_scale",
            self.context_scale is None or 1 < self.context_scale <= MAX_CONTEXT_SCALE,
        )


@dataclass
class MaskHeadConfig:
    """RoI Align for the mask head and the fully convolutional mask head."""

    # RoI Align output for the mask head = predicted mask resolution m.
    # docs/architecture.md §4 and §5.2: 14x14.
    roi_output_size: int = 14
    # Number of 3x3 conv + ReLU layers before the 1x1 mask conv. Mask R-CNN paper (FPN head): 4.
    conv_layers: int = 4
    # Channels of those convs. paper: 256.
    conv_channels: int = 256
    # Normalisation after each of those convs (before the ReLU): None, as the Mask R-CNN paper
    # and torchvision; "gn", GroupNorm of 32 groups (He, Girshick and Dollar 2019, from
    # scratch). "gn" needs conv_channels divisible by 32.
    norm: HeadNorm | None = None
    # A mask target pixel (GT mask averaged over its RoI cell) is foreground at or above this.
    target_threshold: float = 0.5

    def __post_init__(self) -> None:
        """A mask head cannot have a negative number of convolutions."""
        _require("model.mask_head.conv_layers", self.conv_layers >= 0)
        _check_head_norm("model.mask_head.norm", self.norm, self.conv_channels)


@dataclass
class ModelConfig:
    """The whole Mask R-CNN; ``ModelConfig()`` is the specification's model."""

    # Object classes without background (C). docs/architecture.md §5.1: 1 (mass). null: as many
    # as the training annotations' categories (`train` fills in the number it used).
    num_classes: int | None = 1
    # Input normalisation (x - mean) / std of the [0, 1] images: ImageNet's RGB mean averaged
    # to one channel, matching ImageNet-initialised (channel-summed) ResNets.
    image_mean: float = 0.449
    # ImageNet's RGB std averaged to one channel (see image_mean).
    image_std: float = 0.226
    # Batched images are zero-padded (after normalisation) to a multiple of this; P6 = stride 64
    # still works because P6 is a stride-2 subsample of P5. FPN needs 32.
    size_divisible: int = 32
    # Initialise the whole model from a torchvision COCO Mask R-CNN state dict: None, "coco"
    # (torchvision's MaskRCNN_ResNet50_FPN_Weights.COCO_V1, needs internet) or a local file.
    # Every tensor whose name and shape fit is loaded; the rest is reported as skipped.
    init_checkpoint: str | None = None
    # Feature extractor + FPN (docs/architecture.md §2).
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    # Anchor sizes and shapes (docs/architecture.md §3).
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    # Region proposal network (docs/architecture.md §3).
    rpn: RPNConfig = field(default_factory=RPNConfig)
    # RoI Align 7x7 + detection head (docs/architecture.md §4, §5.1).
    box_head: BoxHeadConfig = field(default_factory=BoxHeadConfig)
    # RoI Align 14x14 + mask head (docs/architecture.md §4, §5.2).
    mask_head: MaskHeadConfig = field(default_factory=MaskHeadConfig)

    @classmethod
    def tiny(cls) -> ModelConfig:
        """The same architecture with small sizes, for tests and CPU demos."""
        return tiny_config()

    @property
    def uses_pretrained(self) -> bool:
        """Whether any pretrained weights are requested (drives the frozen-BN default)."""
        return self.backbone.weights is not None or self.init_checkpoint is not None

    def backbone_training(self) -> tuple[str, int]:
        """``(norm, trainable_layers)`` with the ``None`` defaults resolved.

        torchvision's ``maskrcnn_resnet50_fpn`` rule: with pretrained weights, frozen BN and
        the top 3 stages trainable; without them, trainable BN and all 5 stages (frozen random
        statistics and a frozen random stem cannot learn). The model is built with these, and a
        checkpoint is rebuilt with them after its pretrained-weight names are dropped.
        """
        b = self.backbone
        norm = b.norm or ("frozen_bn" if self.uses_pretrained else "bn")
        trainable = b.trainable_layers
        if trainable is None:
            trainable = 3 if self.uses_pretrained else 5
        return norm, trainable

    def __post_init__(self) -> None:
        """The whole-model values (each nested section checked its own)."""
        _require("model.num_classes", self.num_classes is None or self.num_classes >= 1)
        _require("model.image_std", self.image_std > 0)
        _require(
            "model.size_divisible", self.size_divisible >= 32 and self.size_divisible % 32 == 0
        )


def _check_head_norm(name: str, norm: str | None, channels: int) -> None:
    """An FPN or mask-head norm must be known, and GroupNorm must split the channels evenly."""
    if norm not in (None, *get_args(HeadNorm)):
        raise ConfigError(f"{name}: unknown {norm!r}; use gn or leave it unset")
    if norm == "gn" and channels % GROUPS:
        raise ConfigError(f"{name}: gn needs channels divisible by {GROUPS}, got {channels}")


def _require(name: str, ok: bool) -> None:
    """Raise :class:`ConfigError` naming the field when its check failed."""
    if not ok:
        raise ConfigError(f"{name}: impossible value")


_Section = TypeVar("_Section")


def checked_copy(config: _Section) -> _Section:
    """A deep copy of a config dataclass tree built through its constructors.

    Every ``__post_init__`` check runs again, so values set after construction (attribute
    assignment does not validate) are checked before a model is built from them.
    """
    values = {}
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        is_section = dataclasses.is_dataclass(value) and not isinstance(value, type)
        values[f.name] = checked_copy(value) if is_section else copy.deepcopy(value)
    return type(config)(**values)


def tiny_config(backbone: str = "resnet18") -> ModelConfig:
    """A small ``ModelConfig`` of the same architecture: ResNet-18, fewer RoIs and proposals.

    Kept: 1-channel input, FPN P2..P6, 15 anchors/location, 2-class RPN, RoI Align 7x7/14x14,
    one FC layer, four-conv mask head. Reduced: backbone depth, FPN/head widths, sample counts.
    """
    cfg = ModelConfig()
    cfg.backbone.name = backbone
    cfg.backbone.fpn_channels = 64
    cfg.rpn.pre_nms_top_n_train = cfg.rpn.pre_nms_top_n_test = 300
    cfg.rpn.post_nms_top_n_train = cfg.rpn.post_nms_top_n_test = 300
    cfg.box_head.batch_size_per_image = 64
    cfg.box_head.fc_dim = 256
    cfg.mask_head.conv_channels = 64
    return cfg
