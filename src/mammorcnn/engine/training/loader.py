"""Training DataLoader whose order depends only on (seed, epoch) and can start mid-epoch.

DistributedSampler gives each rank its shard and a permutation seeded by seed + epoch; the
worker seeds come from a per-epoch generator, so neither touches the global RNG and a resumed
run sees the same batches. For a mid-epoch resume the sampler skips the samples already used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from mammorcnn.engine.training.distributed import DistInfo
from mammorcnn.engine.training.rng import worker_init_fn


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can skip the first `start` samples of its shard."""

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int) -> None:
        # Explicit replicas/rank: works without a process group (one process) as well.
        super().__init__(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
        )
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start)


def batches_per_epoch(dataset: Dataset, info: DistInfo, batch_size: int) -> int:
    """Steps per epoch on every rank (the sampler pads shards to equal length)."""
    per_rank = -(-len(dataset) // info.world_size)
    return -(-per_rank // batch_size)


def make_loader(
    dataset: Dataset,
    sampler: ResumableSampler,
    batch_size: int,
    num_workers: int,
    collate_fn: Callable[[list], Any],
    seed: int,
    epoch: int,
    pin_memory: bool,
) -> DataLoader:
    """A loader for one epoch (recreated each epoch so worker seeds follow the epoch)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        worker_init_fn=worker_init_fn,
        generator=generator,
        pin_memory=pin_memory,
        drop_last=False,
    )


def default_collate(batch: list) -> tuple[list, list]:
    """(images, targets) lists, as detection models take them (no stacking: sizes differ)."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def repeat_lesion_images(dataset: Dataset, repeat: int) -> Subset:
    """`dataset` with every image that holds a lesion listed `repeat` times (others once).

    A fixed index list rather than a weighted random sampler: epochs keep a known length, the
    order still follows (seed, epoch), and a mid-epoch resume stays exact. The dataset tells
    which images hold lesions through ``has_lesions(index)``.
    """
    has_lesions = getattr(dataset, "has_lesions", None)
    if has_lesions is None:
        raise TypeError(f"{type(dataset).__name__} cannot say which images hold lesions")
    indices = [i for i in range(len(dataset)) for _ in range(repeat if has_lesions(i) else 1)]
    return Subset(dataset, indices)
