"""One device rule for `--device` (inference) and `train.device` (training)."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.engine.device import resolve_device
from mammorcnn.engine.training.distributed import DistInfo
from mammorcnn.engine.training.distributed import resolve_device as training_device
from mammorcnn.errors import ConfigError


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize(
    ("name", "words"),
    [("mps", "unsupported device 'mps'"), ("cuda:x", "unknown device 'cuda:x'"),
     ("cuda:64", "no such CUDA device")],
)  # fmt: skip
def test_bad_or_missing_devices_name_the_setting(name: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device(name)
    assert str(info.value).startswith("--device") and words in str(info.value)
    with pytest.raises(ConfigError) as info:
        training_device(name, DistInfo(rank=0, world_size=1, local_rank=0))
    assert str(info.value).startswith("train.device") and words in str(info.value)
