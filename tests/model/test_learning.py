"""The whole chain learns: a small config of the same architecture finds a bright blob.

Synthetic data is generated here (not by mammorcnn.data) so this test depends on the model
alone: dark noisy 128x128 images, each with one bright irregular blob (a radially perturbed,
slightly elongated ellipse). After a bounded number of CPU steps the model must detect the
blob on unseen images with score > 0.5, box IoU > 0.5 and mask Dice > 0.7.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from mammorcnn.model import build_model, tiny_config

SIZE, TRAIN_IMAGES, STEPS, BATCH = 128, 8, 80, 2


def blob_sample(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One 1xSxS image in [0, 1] with one irregular bright blob, and its target dict."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    radius = rng.uniform(12, 24)
    cx, cy = rng.uniform(radius + 6, SIZE - radius - 6, size=2)
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = sum(
        rng.uniform(0.05, 0.15) * np.sin(rng.integers(2, 5) * angle + rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    mask = np.hypot(xx - cx, (yy - cy) / rng.uniform(1.0, 1.4)) < radius * (1 + wobble)
    image = 0.15 + 0.05 * rng.standard_normal((SIZE, SIZE)).astype(np.float32)
    image[mask] += 0.6
    ys, xs = np.nonzero(mask)
    target = {
        "boxes": torch.tensor(
            [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32
        ),
        "labels": torch.tensor([1]),
        "masks": torch.from_numpy(mask.astype(np.uint8))[None],
    }
    return torch.from_numpy(np.clip(image, 0, 1))[None], target


def test_small_model_learns_to_find_a_blob() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(tiny_config())
    data = [blob_sample(rng) for _ in range(TRAIN_IMAGES)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    model.train()
    for step in range(STEPS):
        batch = [data[(BATCH * step + i) % TRAIN_IMAGES] for i in range(BATCH)]
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    model.eval()
    for _ in range(2):  # unseen images
        image, target = blob_sample(rng)
        with torch.no_grad():
            (out,) = model([image])
        assert out["scores"].numel() > 0, "nothing detected"
        assert out["scores"][0] > 0.5
        assert box_iou(out["boxes"][:1], target["boxes"])[0, 0] > 0.5
        predicted, truth = out["masks"][0, 0] > 0.5, target["masks"][0].bool()
        dice = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
        assert dice > 0.7, f"dice {dice:.3f}"
