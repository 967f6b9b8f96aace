"""Input normalisation and batching; mask pasting on the way out.

Replaces torchvision's ``GeneralizedRCNNTransform``, which always resizes images to
``min_size``/``max_size``: here preprocessing has already made every image SxS, so the model
only normalises with ``image_mean``/``image_std`` and zero-pads to a multiple of 32.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from mammorcnn.model.mask_paste import paste_masks


class NormalizePad(nn.Module):
    """CxHxW images in [0, 1] -> normalised, padded (B, C, H', W') batch; never resizes.

    C is 1 (the film) or 2 (the film and the other breast, the same mean and std for both).
    """

    def __init__(
        self, image_mean: float, image_std: float, size_divisible: int = 32, channels: int = 1
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.image_mean = float(image_mean)
        self.image_std = float(image_std)
        self.size_divisible = int(size_divisible)

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> tuple[ImageList, list[dict[str, Tensor]] | None]:
        for image in images:
            if image.dim() != 3 or image.shape[0] != self.channels:
                raise ValueError(
                    f"expected {self.channels}xHxW images, got shape {tuple(image.shape)}"
                )
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        d = self.size_divisible
        height = -(-max(h for h, _ in sizes) // d) * d
        width = -(-max(w for _, w in sizes) // d) * d
        batch = images[0].new_zeros((len(images), self.channels, height, width))
        for i, (image, (h, w)) in enumerate(zip(images, sizes)):
            batch[i, :, :h, :w] = (image - self.image_mean) / self.image_std
        if targets is not None:
            targets = [dict(t) for t in targets]  # shallow copies: callers' dicts stay intact
        return ImageList(batch, sizes), targets

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """Paste each detection's m x m probabilities into its (H, W) image: (K, 1, H, W)."""
        if self.training:
            return result
        for r, shape in zip(result, original_image_sizes):
            if "masks" in r:
                r["masks"] = paste_masks(r["masks"], r["boxes"], shape)
        return result

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mean={self.image_mean}, std={self.image_std}, "
            f"size_divisible={self.size_divisible}, channels={self.channels}, no resize)"
        )
