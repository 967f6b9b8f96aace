"""The detector's backbone with a light decoder that restores corrupted images.

Restoration pretraining (docs/training.md, "Restoration pretraining") trains this network on
corrupted views of unlabelled images (:mod:`mammorcnn.data.restoration`), then the detector
starts from its backbone: the parameter names are the detector's (``backbone.body.*``,
``backbone.fpn.*``), so the weights load like any checkpoint and only ``decoder.*`` is left
out. The decoder is small on purpose: the backbone, not the decoder, should learn the tissue.
"""

from __future__ import annotations

from torch import Tensor, nn

from mammorcnn.model.config import LEVEL_NAMES, ModelConfig
from mammorcnn.model.transform import NormalizePad

STRIDE = 4  # of P2, the finest FPN level: the decoder restores from it


class RestorationNet(nn.Module):
    """Corrupted CxHxW images in [0, 1] -> restored images, normalised as the detector's input.

    Training (targets with ``original``, the uncorrupted images): ``{"loss_restore": MSE}`` over
    every image's own pixels (padding excluded). Eval: the restored (B, C, H', W') batch.
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module | None = None) -> None:
        super().__init__()
        from mammorcnn.model.build import build_backbone

        self.config = config
        channels = config.backbone.in_channels
        self.backbone = backbone if backbone is not None else build_backbone(config)
        self.transform = NormalizePad(
            config.image_mean, config.image_std, config.size_divisible, channels
        )
        width = self.backbone.out_channels
        # P2 (stride 4) -> STRIDE^2 values per input pixel -> pixel shuffle to full resolution.
        self.decoder = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, channels * STRIDE * STRIDE, 1),
            nn.PixelShuffle(STRIDE),
        )

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | Tensor:
        batch, _ = self.transform(images)
        restored = self.decoder(self.backbone(batch.tensors)[LEVEL_NAMES[0]])
        if not self.training:
            return restored
        if targets is None:
            raise ValueError("targets with the original images are required in training mode")
        originals, _ = self.transform([t["original"] for t in targets])
        total = restored.new_zeros(())
        pixels = 0
        for i, (h, w) in enumerate(batch.image_sizes):
            diff = restored[i, :, :h, :w] - originals.tensors[i, :, :h, :w]
            total = total + diff.pow(2).sum()
            pixels += diff.numel()
        return {"loss_restore": total / max(pixels, 1)}
