"""train.ema_decay: the average against its formula, exact resume, validation and repair."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_toys import ToyDetector, ToySet, toy_config

from mammorcnn.engine.checkpoint import load_state, load_weights
from mammorcnn.engine.training.trainer import Trainer
from mammorcnn.errors import CheckpointError, ConfigError


class Recording(ToyDetector):
    """Keeps a copy of its weights at every training forward: the weights before each step."""

    def __init__(self) -> None:
        super().__init__()
        self.before: list[dict[str, torch.Tensor]] = []

    def forward(self, images, targets=None):  # noqa: ANN001, ANN201
        if self.training:
            self.before.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        return super().forward(images, targets)


def _train(run_dir: Path, model: torch.nn.Module | None = None, resume: bool = False, **cfg):
    torch.manual_seed(0)
    model = model if model is not None else ToyDetector()
    settings = {"select": "last", "ema_decay": 0.5, **cfg}
    trainer = Trainer(model, ToySet(6), toy_config(**settings), run_dir)
    return trainer.fit(resume=resume), trainer


def test_average_follows_its_formula_and_step_files_keep_raw_weights(tmp_path: Path) -> None:
    model = Recording()
    result, _ = _train(tmp_path, model, epochs=1)  # 3 steps of 2 images
    raw = load_weights(result.last)[0]
    after = [*model.before[1:], raw]  # the weights after steps 1, 2 and 3
    assert len(after) == 3
    average = {k: v.clone() for k, v in after[0].items()}  # the first step's weights
    for weights in after[1:]:
        average = {k: 0.5 * average[k] + 0.5 * weights[k] for k in average}
    best, meta = load_weights(result.best)
    assert meta["ema_decay"] == 0.5
    for key in average:
        assert torch.allclose(best[key], average[key], atol=1e-7), key
        assert torch.equal(raw[key], model.state_dict()[key])
    assert not torch.allclose(best["box.weight"], raw["box.weight"])
    state = load_state(tmp_path / "checkpoints" / "step-00000003.state.pt")
    assert state["ema_updates"] == 3
    assert all(torch.equal(state["ema_weights"][k], best[k]) for k in best)


def test_resume_continues_the_average_exactly(tmp_path: Path) -> None:
    full, _ = _train(tmp_path / "a", epochs=3)
    _train(tmp_path / "b", epochs=1)
    resumed, _ = _train(tmp_path / "b", resume=True, epochs=3)
    a, b = load_weights(full.best)[0], load_weights(resumed.best)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_validation_sees_the_average(tmp_path: Path) -> None:
    seen: list[dict[str, torch.Tensor]] = []

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"froc/sens@1": 0.5}

    torch.manual_seed(0)
    config = toy_config(epochs=1, ema_decay=0.5, select="last")
    trainer = Trainer(ToyDetector(), ToySet(6), config, tmp_path, evaluate=evaluate)
    result = trainer.fit()
    best = load_weights(result.best)[0]
    assert len(seen) == 1 and all(torch.equal(seen[0][k], best[k]) for k in best)


def test_best_file_is_rebuilt_from_the_average(tmp_path: Path) -> None:
    result, _ = _train(tmp_path, epochs=1)
    expected = load_weights(result.best)[0]
    result.best.unlink()  # as if the run died between the checkpoint and best.safetensors
    _train(tmp_path, resume=True, epochs=1)
    rebuilt = load_weights(result.best)[0]
    assert all(torch.equal(rebuilt[k], expected[k]) for k in expected)


def test_resuming_a_run_without_average_is_refused(tmp_path: Path) -> None:
    _train(tmp_path, epochs=1, ema_decay=0.0)
    with pytest.raises(CheckpointError, match="saved without train.ema_decay") as error:
        _train(tmp_path, resume=True, epochs=2)
    assert "step-00000003.state.pt" in str(error.value)


@pytest.mark.parametrize("decay", [1.0, -0.1])
def test_decay_out_of_range_is_a_config_error(decay: float) -> None:
    with pytest.raises(ConfigError, match="train.ema_decay must be in"):
        toy_config(ema_decay=decay)
