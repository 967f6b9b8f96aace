"""train.select=last (and a run that validates nothing) makes the newest epoch's weights the
run's checkpoint; lesion_repeat lists
each lesion image `repeat` times per epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset
from training_toys import ToyDetector, ToySet, toy_config

from mammorcnn.engine.checkpoint import load_weights
from mammorcnn.engine.training.loader import repeat_lesion_images
from mammorcnn.engine.training.trainer import Trainer
from mammorcnn.errors import ConfigError


def test_select_last_keeps_the_newest_epoch_whatever_validation_says(tmp_path: Path) -> None:
    values = iter([0.9, 0.1, 0.2])  # "best" would be epoch 1

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        return {"froc/sens@1": next(values)}

    config = toy_config(epochs=3, select="last", checkpoint_every_steps=1)
    trainer = Trainer(ToyDetector(), ToySet(4), config, tmp_path, evaluate=evaluate)
    result = trainer.fit()
    best_weights, meta = load_weights(result.best)
    last_weights = load_weights(result.last)[0]
    assert meta["step"] == 6 and meta["best"] == {"metric": "last", "value": None, "step": 6}
    assert all(torch.equal(best_weights[k], last_weights[k]) for k in last_weights)


def test_select_last_needs_no_validation(tmp_path: Path) -> None:
    trainer = Trainer(ToyDetector(), ToySet(4), toy_config(epochs=2, select="last"), tmp_path)
    result = trainer.fit()
    assert result.best == tmp_path / "checkpoints" / "best.safetensors"
    assert load_weights(result.best)[1]["step"] == 4


@pytest.mark.parametrize("validation", ["none", "val_every 0"])
def test_a_run_that_validates_nothing_keeps_its_newest_epoch(tmp_path: Path, validation) -> None:
    """select "best" without validation: best.safetensors (what `--weights RUN` reads) is the
    newest epoch's weights, as `train` reports, instead of missing."""
    calls = []

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        calls.append(1)
        return {"froc/sens@1": 0.5}

    config = toy_config(epochs=2, select="best", val_every=0 if validation != "none" else 1)
    hook = evaluate if validation != "none" else None
    result = Trainer(ToyDetector(), ToySet(4), config, tmp_path, evaluate=hook).fit()
    assert result.best == tmp_path / "checkpoints" / "best.safetensors"
    best_weights, meta = load_weights(result.best)
    last_weights = load_weights(result.last)[0]
    assert meta["step"] == 4 and meta["best"] == {"metric": "last", "value": None, "step": 4}
    assert all(torch.equal(best_weights[k], last_weights[k]) for k in last_weights)
    assert not calls


class Flagged(Dataset):
    def __init__(self, flags: list[bool]) -> None:
        self.flags = flags

    def __len__(self) -> int:
        return len(self.flags)

    def __getitem__(self, i: int) -> int:
        return i

    def has_lesions(self, i: int) -> bool:
        return self.flags[i]


def test_lesion_images_are_repeated():
    repeated = repeat_lesion_images(Flagged([False, True, False, True]), 3)
    assert [repeated[i] for i in range(len(repeated))] == [0, 1, 1, 1, 2, 3, 3, 3]


def test_repeat_needs_a_dataset_that_knows_its_lesions():
    with pytest.raises(TypeError, match="ToySet"):
        repeat_lesion_images(ToySet(2), 2)


@pytest.mark.parametrize(("field", "value"), [("lesion_repeat", 0), ("select", "best-ish")])
def test_bad_values_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        toy_config(**{field: value})
