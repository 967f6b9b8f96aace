"""Optimiser parameter groups and the lr schedule against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mammorcnn.engine.training.optim import WarmupSchedule, build_optimizer, build_scheduler
from mammorcnn.train_config import TrainConfig


def test_warmup_then_step() -> None:
    s = WarmupSchedule(
        warmup_steps=4,
        warmup_factor=0.2,
        kind="step",
        total_steps=100,
        milestones=[10, 20],
        gamma=0.1,
    )
    assert s(0) == pytest.approx(0.2)
    assert s(2) == pytest.approx(0.2 * 0.5 + 0.5)  # halfway between 0.2 and 1
    assert s(4) == 1.0 and s(9) == 1.0
    assert s(10) == pytest.approx(0.1) and s(19) == pytest.approx(0.1)
    assert s(20) == pytest.approx(0.01)


def test_warmup_then_cosine() -> None:
    s = WarmupSchedule(
        warmup_steps=10, warmup_factor=0.5, kind="cosine", total_steps=110, min_ratio=0.1
    )
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5)  # cosine midpoint
    assert s(110) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
    assert s(35) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25)))


def test_scheduler_steps_lr_and_resumes_from_state() -> None:
    config = TrainConfig(lr=1.0, warmup_steps=2, warmup_factor=0.5, lr_steps=[1], lr_gamma=0.5)
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, config)
    sched = build_scheduler(opt, config, steps_per_epoch=3)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 0.75, 1.0, 0.5, 0.5])  # epoch 1 starts at step 3
    state = (opt.state_dict(), sched.state_dict())
    opt2 = build_optimizer(nn.Linear(2, 2), TrainConfig(lr=7.0, lr_steps=[9]))
    sched2 = build_scheduler(opt2, TrainConfig(lr=7.0, lr_steps=[9]), steps_per_epoch=3)
    opt2.load_state_dict(state[0])
    sched2.load_state_dict(state[1])
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5)
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5)


def test_no_weight_decay_on_biases_and_norms() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    model[1].weight.requires_grad_(False)  # frozen parameters are left out
    opt = build_optimizer(model, TrainConfig(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert [p.shape for p in decay["params"]] == [torch.Size([2, 1, 3, 3])]
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert len(no_decay["params"]) == 2  # conv bias, bn bias
    adamw = build_optimizer(model, TrainConfig(optimizer="adamw", betas=(0.8, 0.9)))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["betas"] == (0.8, 0.9)
