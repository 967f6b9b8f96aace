"""Device names (`--device`, `train.device`) to torch devices: one rule for training and
inference, so `auto`, `cpu`, `cuda` and `cuda:N` mean the same in every command."""

from __future__ import annotations

import torch

from mammorcnn.errors import ConfigError


def resolve_device(
    name: str, *, setting: str = "--device", local_rank: int | None = None
) -> torch.device:
    """``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    ``local_rank`` (distributed training) gives each process its own GPU, cuda:LOCAL_RANK,
    whatever CUDA name was asked for. A GPU that is not there is a one-line ConfigError naming
    ``setting``, not a traceback from the first tensor moved there.
    """
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    try:
        device = torch.device("cuda" if name == "auto" else name)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"{setting}: unknown device {name!r}; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type != "cuda":
        raise ConfigError(f"{setting}: unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = local_rank if local_rank is not None else (device.index or 0)
    if index >= count:
        raise ConfigError(
            f"{setting} {name}: no such CUDA device ({count} available); use cpu or auto"
        )
    return torch.device("cuda", index)
