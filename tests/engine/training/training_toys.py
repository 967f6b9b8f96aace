"""Tiny models and datasets for trainer tests (seconds on a CPU).

`ToyDetector` keeps the model contract (list of 1xHxW images + targets -> dict of losses in
train mode, list of detections in eval mode) with a few hundred parameters, a dropout and a
random augmentation in the dataset, so resume tests fail if any RNG state were not restored.
Imported by the tests (conftest puts this folder on sys.path) and by subprocess scripts.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from mammorcnn.train_config import TrainConfig


class ToyDetector(nn.Module):
    """Predicts the first box of each image from pooled conv features."""

    def __init__(self, width: int = 4, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.norm = nn.GroupNorm(1, width)
        self.drop = nn.Dropout(0.2)
        self.box = nn.Linear(width, 4)
        self.cls_score = nn.Linear(width, num_classes)

    def _features(self, images: list[torch.Tensor]) -> torch.Tensor:
        x = torch.stack(images)
        return self.drop(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):  # noqa: ANN201
        feats = self._features(images)
        size = images[0].shape[-1]
        boxes, logits = self.box(feats), self.cls_score(feats)
        if self.training:
            true = torch.stack([t["boxes"][0] / size for t in targets])
            labels = torch.stack([t["labels"][0] for t in targets])
            return {
                "loss_box_reg": nn.functional.smooth_l1_loss(boxes, true),
                "loss_classifier": nn.functional.cross_entropy(logits, labels),
            }
        scores = logits.softmax(-1)[:, 1]
        return [
            {
                "boxes": (b * size)[None],
                "scores": s[None],
                "labels": torch.ones(1, dtype=torch.int64),
            }
            for b, s in zip(boxes, scores)
        ]


class ToySet(Dataset):
    """Square blobs at known boxes; a random brightness jitter from torch's global RNG."""

    def __init__(self, n: int = 8, size: int = 16, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            x0, y0 = torch.randint(0, size // 2, (2,), generator=gen).tolist()
            w = int(torch.randint(3, size // 2, (1,), generator=gen))
            image = torch.zeros(1, size, size)
            image[0, y0 : y0 + w, x0 : x0 + w] = 1.0
            target = {
                "boxes": torch.tensor([[x0, y0, x0 + w, y0 + w]], dtype=torch.float32),
                "labels": torch.tensor([1]),
            }
            self.items.append((image, target))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):  # noqa: ANN204
        image, target = self.items[i]
        return image * (0.8 + 0.4 * torch.rand(1)), target


def toy_config(**overrides: object) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_size=2,
        lr=0.05,
        warmup_steps=2,
        lr_steps=[1],
        num_workers=0,
        log_every=1,
        tensorboard=False,
        progress=False,
        deterministic=True,
        device="cpu",
        grad_clip_norm=5.0,
    )
    base.update(overrides)
    return TrainConfig(**base)


class TinyMammoSet(Dataset):
    """A few 1xSxS images with one rectangular "mass" each, in the model's target format."""

    def __init__(self, n: int = 4, size: int = 64, seed: int = 0) -> None:
        self.toy = ToySet(n, size, seed)

    def __len__(self) -> int:
        return len(self.toy)

    def __getitem__(self, i: int):  # noqa: ANN204
        image, target = self.toy[i]
        x0, y0, x1, y1 = target["boxes"][0].int().tolist()
        masks = torch.zeros(1, *image.shape[-2:], dtype=torch.uint8)
        masks[0, y0:y1, x0:x1] = 1
        return image, {**target, "masks": masks, "mask_valid": torch.tensor([i % 2 == 0])}


def tiny_maskrcnn() -> nn.Module:
    """The project's model at its tiny test size."""
    from mammorcnn.model import build_model, tiny_config

    return build_model(tiny_config())
