"""Assemble the specification's Mask R-CNN from its parts (torchvision's GeneralizedRCNN).

``MaskRCNN`` takes every part as an argument; ``None`` builds the part the config describes,
so a researcher can swap one piece (say, the backbone) and keep the rest.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from mammorcnn.errors import ConfigError
from mammorcnn.model.anchors import PyramidAnchorGenerator
from mammorcnn.model.backbone_resnet import build_resnet_fpn
from mammorcnn.model.box_head import BoxHead, BoxPredictor
from mammorcnn.model.config import (
    LEVEL_NAMES,
    LEVEL_STRIDES,
    RESNET_NAMES,
    ModelConfig,
    checked_copy,
)
from mammorcnn.model.context_roi import ContextRoIAlign
from mammorcnn.model.mask_head import MaskPredictor, build_mask_head
from mammorcnn.model.roi_align import PyramidRoIAlign
from mammorcnn.model.roi_heads import SpecRoIHeads
from mammorcnn.model.rpn import SoftmaxRPN, SoftmaxRPNHead
from mammorcnn.model.transform import NormalizePad


def build_backbone(config: ModelConfig) -> nn.Module:
    """The config's backbone: a module mapping (B, C, H, W) to OrderedDict p2..p6."""
    b = config.backbone
    norm, trainable = config.backbone_training()
    if b.name in RESNET_NAMES:
        return build_resnet_fpn(
            b.name,
            norm,
            trainable,
            b.fpn_channels,
            b.in_channels,
            b.fpn_norm,
            b.zero_init_residual,
        )
    from mammorcnn.model.backbone_transformer import build_transformer_fpn

    return build_transformer_fpn(b)


def build_rpn(config: ModelConfig) -> SoftmaxRPN:
    """Anchors (stride-relative sizes, h/w ratios) + 2-class softmax RPN head on P2..P6."""
    anchors = PyramidAnchorGenerator(
        config.anchors.sizes, config.anchors.aspect_ratios, LEVEL_STRIDES, config.anchors.offset
    )
    head = SoftmaxRPNHead(config.backbone.fpn_channels, anchors.num_anchors_per_location()[0])
    return SoftmaxRPN(anchors, head, config.rpn)


def build_roi_heads(config: ModelConfig) -> SpecRoIHeads:
    """RoI Align (aligned, P2..P5) feeding the FC detection head and the conv mask head."""
    bh, mh, ch = config.box_head, config.mask_head, config.backbone.fpn_channels
    names, strides = LEVEL_NAMES[:4], LEVEL_STRIDES[:4]  # P6 is for the RPN only (FPN paper)

    def pool(size: int) -> PyramidRoIAlign:
        return PyramidRoIAlign(
            names, strides, size, bh.sampling_ratio, bh.canonical_scale, bh.canonical_level
        )

    mask_in = mh.conv_channels if mh.conv_layers > 0 else ch
    box_pool: nn.Module = pool(bh.roi_output_size)
    box_in = ch
    if bh.context_scale is not None:  # the box's features, then its surroundings'
        box_pool, box_in = ContextRoIAlign(box_pool, bh.context_scale), 2 * ch
    return SpecRoIHeads(
        box_roi_pool=box_pool,
        box_head=BoxHead(box_in, bh.roi_output_size, bh.fc_dim),
        box_predictor=BoxPredictor(bh.fc_dim, config.num_classes),
        fg_iou_thresh=bh.fg_iou_thresh,
        bg_iou_thresh=bh.bg_iou_thresh,
        batch_size_per_image=bh.batch_size_per_image,
        positive_fraction=bh.positive_fraction,
        bbox_reg_weights=tuple(bh.bbox_reg_weights),
        score_thresh=bh.score_thresh,
        nms_thresh=bh.nms_thresh,
        detections_per_img=bh.detections_per_img,
        nested_thresh=bh.nested_thresh,
        hard_negative_fraction=bh.hard_negative_fraction,
        mask_roi_pool=pool(mh.roi_output_size),
        mask_head=build_mask_head(ch, mh.conv_channels, mh.conv_layers, mh.norm),
        mask_predictor=MaskPredictor(mask_in, config.num_classes),
        box_smooth_l1_beta=bh.smooth_l1_beta,
        mask_target_threshold=mh.target_threshold,
    )


class MaskRCNN(GeneralizedRCNN):
    """The specification's Mask R-CNN; ``.config`` is the ``ModelConfig`` it was built from.

    Input: list of 1xHxW float tensors in [0, 1]. Training (with targets ``boxes``, ``labels``,
    ``masks``, optional ``mask_valid``): dict of the five losses. Eval: per image ``boxes``,
    ``labels``, ``scores`` and ``masks`` (K, 1, H, W) probabilities.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        backbone: nn.Module | None = None,
        rpn: nn.Module | None = None,
        roi_heads: nn.Module | None = None,
        transform: nn.Module | None = None,
    ) -> None:
        # A copy through the constructors: values set after construction are checked too.
        config = checked_copy(config) if config is not None else ModelConfig()
        if config.num_classes is None:  # only `train` knows the annotations' categories
            raise ConfigError(
                "model.num_classes is null (as many as the training annotations' categories): "
                "`train` fills it in; set model.num_classes=N to build a model elsewhere"
            )
        super().__init__(
            backbone if backbone is not None else build_backbone(config),
            rpn if rpn is not None else build_rpn(config),
            roi_heads if roi_heads is not None else build_roi_heads(config),
            transform
            if transform is not None
            else NormalizePad(
                config.image_mean,
                config.image_std,
                config.size_divisible,
                config.backbone.in_channels,
            ),
        )
        self.config = config

    def set_test_proposals(self, count: int) -> None:
        """Keep ``count`` RPN proposals per image after NMS at inference (``--proposals``).

        The one way to change the count after building: it writes ``config.rpn``, which the
        RPN reads its counts from, so ``model.config`` keeps describing the model (and a
        checkpoint saved from it records the count it ran with).
        """
        if count < 1:
            raise ValueError(f"test_proposals must be >= 1, got {count}")
        self.config.rpn.post_nms_top_n_test = int(count)
        rpn_config = getattr(self.rpn, "config", None)
        if rpn_config is not None:  # the same object unless an RPN was passed in
            rpn_config.post_nms_top_n_test = int(count)

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("targets are required in training mode")
        return super().forward(images, targets)


def build_model(config: ModelConfig | None = None) -> MaskRCNN:
    """Build the model (the specification's defaults when ``config`` is None).

    Pretrained weights named in the config (``backbone.weights``, ``init_checkpoint``) are
    loaded here; see :mod:`mammorcnn.model.pretrained`.
    """
    if config is not None and not isinstance(config, ModelConfig):
        raise ConfigError(f"build_model expects a ModelConfig, got {type(config).__name__}")
    model = MaskRCNN(config)
    from mammorcnn.model.pretrained import apply_pretrained

    apply_pretrained(model)
    return model
