"""One optimisation step: autocast, NaN/inf policy, gradient clipping, GradScaler, OOM message.

Non-finite losses are detected *before* backward and agreed on across ranks, because under DDP
a rank that skips backward while the others run it would hang the gradient all-reduce.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from torch import nn

from mammorcnn.engine.training import distributed as D
from mammorcnn.errors import ConfigError, TrainingError
from mammorcnn.train_config import TrainConfig

log = logging.getLogger("mammorcnn.train")

# torch >= 2.5 has torch.OutOfMemoryError; older releases only the CUDA one.
_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None. On the CPU only bf16, and only where the CPU computes it
    natively (AVX512_BF16/AMX); otherwise AMP is disabled with a warning (see TrainConfig)."""
    if config.amp == "none":
        return None
    if device.type == "cpu" and config.amp == "bf16":
        from mammorcnn.model.speed import cpu_has_bf16

        if cpu_has_bf16():
            return torch.bfloat16
        log.warning(
            "train.amp=bf16: this CPU has no native bfloat16 (AVX512_BF16/AMX), where CPU "
            "autocast is slower than float32; training in float32"
        )
        return None
    if device.type != "cuda":
        log.warning(
            "train.amp=%s needs a CUDA device%s; training in float32 on %s",
            config.amp,
            " (or train.amp=bf16 on a CPU with AVX512_BF16/AMX)" if config.amp == "fp16" else "",
            device,
        )
        return None
    if config.amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError("train.amp=bf16 is not supported by this GPU; use train.amp=fp16")
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


def _to(value: object, device: torch.device) -> object:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


class StepRunner:
    """Runs forward/backward/update for one batch and applies the NaN policy."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        device: torch.device,
        info: D.DistInfo,
        last_good: Callable[[], str],
    ) -> None:
        self.model, self.optimizer, self.cfg = model, optimizer, config
        self.device, self.info, self.last_good = device, info, last_good
        self.dtype = amp_dtype(config, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.skipped = 0

    def run(self, images: list, targets: list, where: str) -> dict[str, float] | None:
        """Train on one batch; returns its losses, or None when the batch was skipped."""
        images = [_to(image, self.device) for image in images]
        targets = [_to(target, self.device) for target in targets]
        try:
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
                loss_dict = self.model(images, targets)
            loss = sum(loss_dict.values())
            values = {k: float(v.detach()) for k, v in loss_dict.items()}
            values["loss"] = float(loss.detach())
            if D.any_rank(not math.isfinite(values["loss"]), self.info, self.device):
                return self._non_finite("loss", values, where)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            # max_norm=inf only measures the norm: non-finite gradients must be caught even
            # without clipping, or one bad batch would poison the weights.
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip_norm or math.inf)
            values["grad_norm"] = float(norm)
            # With fp16 an inf gradient is the scaler's business (it skips and lowers the scale).
            if self.dtype != torch.float16 and not math.isfinite(values["grad_norm"]):
                self.optimizer.zero_grad(set_to_none=True)
                return self._non_finite("gradient", values, where)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        except _OOM as error:
            sizes = [tuple(image.shape[-2:]) for image in images]
            raise TrainingError(
                f"out of GPU memory at {where} on a batch of {len(images)} image(s) of sizes "
                f"{sizes}: lower train.batch_size (now {self.cfg.batch_size}) or "
                "data.preprocess.image_size, or set train.amp=bf16"
            ) from error
        return values

    def _non_finite(self, what: str, values: dict[str, float], where: str) -> None:
        detail = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self.cfg.on_nan == "stop" or self.skipped >= self.cfg.max_skipped_batches:
            reason = (
                ""
                if self.cfg.on_nan == "stop"
                else f" after skipping {self.skipped} batches (train.max_skipped_batches)"
            )
            raise TrainingError(
                f"non-finite {what} at {where}: {detail}{reason}. The last good checkpoint is "
                f"untouched: {self.last_good()}. Lower train.lr, set train.grad_clip_norm, check "
                "this batch's annotations, or set train.on_nan=skip"
            )
        self.skipped += 1
        log.warning(
            "skipped batch with non-finite %s at %s (%d skipped): %s",
            what,
            where,
            self.skipped,
            detail,
        )
        return None
