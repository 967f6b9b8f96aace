"""torch.distributed helpers for runs under `torchrun` (and the single-process case).

Every helper is a no-op with one process, so the trainer has one code path. Under torchrun
the process group is set up from the environment variables it exports (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT): NCCL on GPUs, gloo on the CPU.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from mammorcnn.engine.device import resolve_device as device_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files (checkpoints, TensorBoard, config, logs)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto", timeout_min: float = 60) -> tuple[DistInfo, bool]:
    """Join the process group torchrun describes; returns (info, whether we created it).

    A group that already exists (set up by a caller) is reused and left for the caller to
    destroy. The generous timeout covers rank 0 validating alone while others wait.
    """
    if dist.is_available() and dist.is_initialized():
        return _current(), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), False
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=timeout_min))
    info = _current()
    log.info("process %d/%d joined (%s)", info.rank, info.world_size, backend)
    return info, True


def _current() -> DistInfo:
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """Turn `train.device` into a device; under DDP each process takes cuda:LOCAL_RANK."""
    rank = info.local_rank if info.enabled else None
    return device_for(name, setting="train.device", local_rank=rank)


def _backend_device(device: torch.device) -> torch.device:
    # NCCL only reduces CUDA tensors; gloo only CPU ones.
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if `flag` is true on any (keeps ranks in lock-step on NaN skips)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=_backend_device(device))
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def max_over_ranks(value: int, info: DistInfo, device: torch.device) -> int:
    """The largest `value` of any rank, on every rank (a stop signal seen by one rank)."""
    if not info.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=_backend_device(device))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def mean_metrics(metrics: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average a metric dict over ranks (keys any rank reported; NaN-free ranks only).

    Gathered as objects rather than all_reduced as a tensor so that ranks reporting
    different keys cannot silently misalign values.
    """
    if not info.enabled:
        return dict(metrics)
    gathered: list[dict[str, float]] = [{} for _ in range(info.world_size)]
    dist.all_gather_object(gathered, {k: float(v) for k, v in metrics.items()})
    out = {}
    for key in sorted({k for g in gathered for k in g}):
        values = [g[key] for g in gathered if key in g and not math.isnan(g[key])]
        out[key] = sum(values) / len(values) if values else math.nan
    return out


def gather_objects(obj: object, info: DistInfo) -> list:
    """Every rank's `obj`, in rank order (used for per-rank RNG states)."""
    if not info.enabled:
        return [obj]
    gathered: list = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts them at the start of each forward, so after the last step of an epoch every
    rank holds its own slightly different statistics; validation and the checkpoint must all
    see rank 0's, which are the ones saved.
    """
    if not info.enabled:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(created: bool) -> None:
    """Destroy the process group if this code created it."""
    if created and dist.is_initialized():
        dist.destroy_process_group()
