"""Optimiser and learning-rate schedule from `TrainConfig` (the one place names become objects).

The schedule is a closed-form multiplier in `torch.optim.lr_scheduler.LambdaLR` rather than a
`SequentialLR(LinearLR, StepLR/CosineAnnealingLR)` chain: the chain's recursive updates depend
on the order and count of past `step()` calls, while a formula of the step alone is trivially
exact after resume (LambdaLR saves the callable's attributes in its state_dict) and testable
against a hand computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from mammorcnn.train_config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW over trainable parameters; biases and norm weights without weight decay."""
    decay, no_decay = [], []
    for _name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # 1-D parameters are biases and normalisation scales: decaying them only hurts.
        (no_decay if config.no_decay_norm_and_bias and param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas))


@dataclass
class WarmupSchedule:
    """lr multiplier at optimiser step `step` (0-based): linear warm-up x (step | cosine | 1)."""

    warmup_steps: int
    warmup_factor: float
    kind: str
    total_steps: int
    milestones: list[int] = field(default_factory=list)  # in steps
    gamma: float = 0.1
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        factor = 1.0
        if step < self.warmup_steps:
            alpha = step / self.warmup_steps
            factor = self.warmup_factor * (1 - alpha) + alpha
        if self.kind == "step":
            factor *= self.gamma ** sum(1 for m in self.milestones if step >= m)
        elif self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, max(0.0, (step - self.warmup_steps) / span))
            factor *= self.min_ratio + (1 - self.min_ratio) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step scheduler; `lr_steps` (epochs) become step milestones."""
    schedule = WarmupSchedule(
        warmup_steps=config.warmup_steps,
        warmup_factor=config.warmup_factor,
        kind=config.schedule,
        total_steps=config.epochs * steps_per_epoch,
        milestones=[epoch * steps_per_epoch for epoch in config.lr_steps],
        gamma=config.lr_gamma,
        min_ratio=config.min_lr_ratio,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule)
