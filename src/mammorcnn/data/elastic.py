"""Smooth elastic deformation whose strength is stated in pixels.

torchvision's ``v2.ElasticTransform`` moves image, masks and boxes together, and we keep its
kernels. Only the displacement field is made here: torchvision scales blurred uniform noise
by ``alpha / size``, and blurring shrinks that noise's amplitude by roughly the blur's width,
so one ``alpha`` means sub-pixel wobble at one smoothness and large tears at another. Here the
field is normalised to a root-mean-square displacement of ``rms_px`` pixels at any smoothness,
which makes the setting mean the same on every image size.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2


def displacement_field(height: int, width: int, rms_px: float, sigma_px: float) -> torch.Tensor:
    """Random smooth displacement (1, H, W, 2) in pixels: x then y, each with RMS ``rms_px``.

    White noise blurred by a Gaussian of ``sigma_px`` (the size of the deformed structures),
    then rescaled to the requested RMS. A smooth field is made on a grid ``sigma_px / 8``
    times coarser and resized bilinearly: the same field at a fraction of the blur's cost.
    """
    factor = max(1, int(sigma_px // 8))
    coarse = (-(-height // factor), -(-width // factor))
    noise = torch.rand(2, 1, *coarse) * 2 - 1
    smooth = separable_gaussian_blur(noise, sigma_px / factor)
    if factor > 1:
        smooth = torch.nn.functional.interpolate(
            smooth, size=(height, width), mode="bilinear", align_corners=False
        )
    rms = smooth.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-12)
    field = smooth / rms * rms_px  # (2, 1, H, W)
    return field[:, 0].permute(1, 2, 0).unsqueeze(0)


def separable_gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, 1, H, W) as a row pass and a column pass, reflect-padded.

    Hand-written: torchvision's ``gaussian_blur`` convolves with the full k x k kernel, which
    at the smoothness elastic fields need (k about 100) cost 350 ms a 256-px crop. The kernel spans +-4 sigma, capped so its reflect padding fits the image.
    """
    height, width = images.shape[-2:]
    for dim, size in ((3, width), (2, height)):
        radius = min(int(4 * sigma), size - 1)
        offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
        kernel = kernel / kernel.sum()
        if dim == 3:
            padded = torch.nn.functional.pad(images, (radius, radius, 0, 0), mode="reflect")
            images = torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, -1))
        else:
            padded = torch.nn.functional.pad(images, (0, 0, radius, radius), mode="reflect")
            images = torch.nn.functional.conv2d(padded, kernel.view(1, 1, -1, 1))
    return images


def pixels_to_grid(field_px: torch.Tensor) -> torch.Tensor:
    """Pixel displacements -> the normalised grid units torchvision's elastic kernels add to
    their identity grid (``align_corners=False``: the width spans 2 units, so 1 px = 2 / W)."""
    height, width = field_px.shape[1:3]
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=field_px.dtype)
    return field_px * scale


class SmoothElastic(v2.ElasticTransform):
    """``v2.ElasticTransform`` with an RMS displacement in pixels and a smoothness in pixels.

    Output pixel p takes the input's value at p + displacement(p); masks use nearest
    interpolation and boxes are moved approximately by torchvision (the augmentation then
    re-derives every box from its mask). Pixels pulled from outside the image are 0.
    """

    def __init__(self, rms_px: float, sigma_px: float) -> None:
        super().__init__(alpha=0.0, sigma=sigma_px, fill=0)
        self.rms_px, self.sigma_px = rms_px, sigma_px

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        field = displacement_field(height, width, self.rms_px, self.sigma_px)
        return {"displacement": pixels_to_grid(field)}
