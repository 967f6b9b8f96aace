"""The training loop: model, datasets and evaluation are injected, everything else is here.

The trainer knows nothing about Mask R-CNN or COCO: it needs a module that returns a dict of
losses in train mode, a dataset of (image, target) pairs and, optionally, an
``evaluate(model) -> {metric: value}`` callback (called on every rank, under no_grad, in eval
mode) and an ``overlays(model, n) -> {name: 3xHxW image}`` callback (rank 0 only). That keeps
it testable with a toy model in seconds and lets the CLI wire in the real parts.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm import tqdm

from mammorcnn.engine import graceful_stop
from mammorcnn.engine.checkpoint import check_compatible
from mammorcnn.engine.training import distributed as D
from mammorcnn.engine.training.callbacks import EvaluateFn, OverlayFn, TrainResult
from mammorcnn.engine.training.ema import averaged_weights, ema_state, make_ema, restore_ema
from mammorcnn.engine.training.loader import (
    ResumableSampler,
    batches_per_epoch,
    default_collate,
    make_loader,
)
from mammorcnn.engine.training.manager import CheckpointManager, Loaded
from mammorcnn.engine.training.optim import build_optimizer, build_scheduler
from mammorcnn.engine.training.rng import (
    capture_rng,
    restore_rng,
    seed_everything,
    set_deterministic,
)
from mammorcnn.engine.training.runlog import RunLog
from mammorcnn.engine.training.state import pack_state, unpack_state
from mammorcnn.engine.training.step import StepRunner
from mammorcnn.errors import CheckpointError, ConfigError, OutputError, TrainingError
from mammorcnn.train_config import TrainConfig

log = logging.getLogger("mammorcnn.train")


class Trainer:
    """Trains `model` on `train_set` into RUN_DIR/checkpoints; see docs/training.md."""

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        config: TrainConfig,
        run_dir: Path,
        *,
        evaluate: EvaluateFn | None = None,
        overlays: OverlayFn | None = None,
        collate_fn: Callable = default_collate,
        metadata: dict | None = None,
        dist_info: D.DistInfo | None = None,
    ) -> None:
        self.cfg, self.run_dir = config, Path(run_dir)
        self.info = dist_info or D.DistInfo()
        self.device = D.resolve_device(config.device, self.info)
        self.train_set, self.collate_fn = train_set, collate_fn
        self.evaluate, self.overlays = evaluate, overlays
        self.metadata = dict(metadata or {})
        if len(train_set) == 0:
            raise TrainingError("the training set is empty")
        if self.info.enabled and config.sync_bn:
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                log.warning("train.sync_bn needs CUDA devices; ignored on %s", self.device)
        layout = torch.channels_last if config.channels_last else torch.preserve_format
        self.model = model.to(self.device, memory_format=layout)
        self.wrapped: nn.Module = self.model
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=config.ddp_find_unused_parameters
            )
        self.optimizer = build_optimizer(self.model, config)
        self.ema = make_ema(self.model, config.ema_decay)  # None when off
        self.sampler = ResumableSampler(train_set, self.info, config.seed)
        self.steps_per_epoch = batches_per_epoch(train_set, self.info, config.batch_size)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.runner = StepRunner(
            self.wrapped, self.optimizer, config, self.device, self.info, self._last_good
        )
        self.manager = CheckpointManager(self.run_dir / "checkpoints", config.keep_last)
        self.step = self.epoch = self.batch = 0
        self.saved_step: int | None = None  # step of the newest checkpoint on disk
        self.best: dict = {"metric": config.best_metric, "value": None, "step": None}
        self.metrics: dict[str, float] = {}
        self.runlog: RunLog | None = None

    # -- public ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Train to `config.epochs`; with `resume`, continue from the newest complete checkpoint."""
        self.check_start(resume)
        set_deterministic(self.cfg.deterministic)
        if resume:
            loaded = self.manager.load_latest()
            if loaded is None:
                raise CheckpointError(self.manager.folder, "no complete checkpoint to resume from")
            self._restore(loaded)
        else:
            seed_everything(self.cfg.seed + self.info.rank)
        if self.info.is_main:
            self.manager.prepare()
            if resume:
                self.manager.set_aside_newer(self.step)
                self.manager.repair_best(self.best["step"], averaged=self.ema is not None)
        D.barrier(self.info)
        self.runlog = RunLog(
            self.run_dir, self.info.is_main, self.cfg.tensorboard, self.step if resume else None
        )
        try:
            while self.epoch < self.cfg.epochs:
                self._stop_if_requested()
                self._train_epoch()
                self.epoch, self.batch = self.epoch + 1, 0
                self._sync_buffers()
                metrics = self._validate()
                self._save(metrics)
        except BaseException as error:
            self.runlog.close(quiet=True)
            if isinstance(error, OutputError):  # disk full, read-only: what is kept, what next
                raise error.with_hint(
                    f"the last complete checkpoint is {self._last_good()}; once the disk is "
                    f"writable again: mammorcnn train --resume {self.run_dir}"
                ) from error
            raise
        self.runlog.close()
        return self._result()

    def check_start(self, resume: bool) -> None:
        """Refuse to start over an existing run (or to resume none) before anything is written."""
        complete = self.manager.complete()
        if resume and not complete:
            raise CheckpointError(self.manager.folder, "no complete checkpoint to resume from")
        if not resume and complete:
            raise TrainingError(
                f"{self.run_dir} already holds checkpoints; resume it or use a new run folder"
            )

    # -- epochs ------------------------------------------------------------------------------
    def _train_epoch(self) -> None:
        cfg = self.cfg
        self.sampler.set_epoch(self.epoch)
        self.sampler.set_start(self.batch * cfg.batch_size)
        loader = make_loader(
            self.train_set,
            self.sampler,
            cfg.batch_size,
            cfg.num_workers,
            self.collate_fn,
            cfg.seed + self.info.rank,
            self.epoch,
            pin_memory=self.device.type == "cuda",
        )
        self.wrapped.train()
        window: dict[str, list[float]] = defaultdict(list)
        bar = tqdm(
            loader,
            total=len(loader),
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            disable=not (cfg.progress and self.info.is_main),
            dynamic_ncols=True,
        )
        for images, targets in bar:
            where = f"step {self.step + 1} (epoch {self.epoch + 1}, batch {self.batch + 1})"
            losses = self.runner.run(images, targets, where)
            if losses is not None and self.ema is not None:  # a skipped batch changed nothing
                self.ema.update_parameters(self.model)
            self.scheduler.step()  # also after a skipped batch: the schedule follows the plan
            self.step, self.batch = self.step + 1, self.batch + 1
            for key, value in (losses or {}).items():
                window[key].append(value)
            if self.step % cfg.log_every == 0:
                self._log_window(window, bar)
                window.clear()
            every = cfg.checkpoint_every_steps
            if every and self.step % every == 0 and self.batch < self.steps_per_epoch:
                self._sync_buffers()
                self._save(None, epoch_end=False)
            self._stop_if_requested()

    def _stop_if_requested(self) -> None:
        """On SIGTERM/SIGINT (any rank's: every rank stops at the same step), checkpoint this
        exact step, unless one is on disk already, and stop; resume continues from here."""
        signum = D.max_over_ranks(graceful_stop.requested() or 0, self.info, self.device)
        if not signum:
            return
        if self.saved_step != self.step:
            self._sync_buffers()
            self._save(None, epoch_end=False)
        raise graceful_stop.stopped(
            signum,
            f"after step {self.step} (epoch {self.epoch + 1}, batch {self.batch}); checkpoint "
            f"{self.manager.paths(self.step).weights} written; continue with: "
            f"mammorcnn train --resume {self.run_dir}",
        )

    def _log_window(self, window: dict[str, list[float]], bar: tqdm) -> None:
        values = {k: sum(v) / len(v) for k, v in window.items() if v}
        values = D.mean_metrics(values, self.info)
        values["lr"] = self.optimizer.param_groups[0]["lr"]
        values["skipped_batches"] = float(self.runner.skipped)
        self.runlog.record("train", self.step, self.epoch, values)
        if "loss" in values:
            bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{values['lr']:.2e}")
            log.info(
                "epoch %d step %d loss %.4f lr %.3g",
                self.epoch + 1,
                self.step,
                values["loss"],
                values["lr"],
            )

    def _validate(self) -> dict[str, float] | None:
        every = self.cfg.val_every
        if self.evaluate is None or every == 0:
            return None
        if self.epoch % every != 0 and self.epoch != self.cfg.epochs:
            return None
        model = self._selected_model()
        model.eval()
        with torch.no_grad():
            metrics = D.mean_metrics(self.evaluate(model), self.info)
            if self.overlays is not None and self.cfg.tb_overlays and self.runlog.writer:
                self.runlog.images(self.step, self.overlays(model, self.cfg.tb_overlays))
        self.wrapped.train()
        self.metrics = metrics
        self.runlog.record("val", self.step, self.epoch, metrics)
        if self.info.is_main:  # metrics are already reduced across ranks; say it once
            log.info("validation after epoch %d: %s", self.epoch, _fmt(metrics))
        return metrics

    # -- checkpoints -------------------------------------------------------------------------
    def _save(self, metrics: dict[str, float] | None, epoch_end: bool = True) -> None:
        rng = D.gather_objects(capture_rng(), self.info)
        name = self.cfg.best_metric
        # every epoch's weights replace the previous "best"; so too when nothing is validated,
        # so that best.safetensors (what `--weights RUN` reads) always exists
        never_validated = self.evaluate is None or self.cfg.val_every == 0
        if self.cfg.select == "last" or never_validated:
            improved = epoch_end
            if improved:
                self.best = {"metric": "last", "value": None, "step": self.step}
        else:
            improved = metrics is not None and name in metrics and self._better(metrics[name])
            if improved:
                self.best = {"metric": name, "value": float(metrics[name]), "step": self.step}
        if self.info.is_main:
            parts = (self.optimizer, self.scheduler, self.runner.scaler)
            extra = ema_state(self.ema) if self.ema is not None else None
            state = pack_state(*parts, self._position(), rng, extra)
            clean = {k: (v if math.isfinite(v) else None) for k, v in (metrics or {}).items()}
            meta = {**self.metadata, "epoch": self.epoch, "metrics": clean}
            weights = self.model.state_dict()
            self.manager.save(self.step, weights, meta, state)
            if improved:
                chosen = self._selected_model().state_dict()
                averaged = {"ema_decay": self.cfg.ema_decay} if self.ema is not None else {}
                best_meta = {**meta, "step": self.step, "best": self.best, **averaged}
                self.manager.save_best(chosen, best_meta)
        D.barrier(self.info)
        self.saved_step = self.step
        if self.cfg.select == "best" and metrics is not None and name not in metrics:
            raise ConfigError(
                f"train.best_metric={name!r} is not among the validation metrics "
                f"({', '.join(sorted(metrics))}); the checkpoint was saved, resume with a "
                "corrected train.best_metric"
            )

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        old = self.best["value"]
        return old is None or (value > old if self.cfg.best_mode == "max" else value < old)

    def _sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm statistics) on every rank, the average's too: each rank
        averages its own statistics, and validation and the saved files must agree."""
        D.broadcast_buffers(self.model, self.info)
        if self.ema is not None:
            D.broadcast_buffers(self.ema.module, self.info)

    def _selected_model(self) -> nn.Module:
        """What validation sees and best.safetensors holds: the weight average when
        train.ema_decay is on, else the model itself."""
        return self.ema.module if self.ema is not None else self.model

    def _last_good(self) -> str:
        complete = self.manager.complete()
        return str(complete[-1].weights) if complete else "none written yet"

    def _position(self) -> dict:
        return {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch,
            "step": self.step,
            "best": self.best,
            "skipped_batches": self.runner.skipped,
        }

    def _restore(self, loaded: Loaded) -> None:
        check_compatible(loaded.checkpoint.weights, loaded.weights, self.model)
        self.model.load_state_dict(loaded.weights)
        parts = (self.optimizer, self.scheduler, self.runner.scaler)
        planned = dict(vars(self.scheduler.lr_lambdas[0]))
        position, rng = unpack_state(loaded.checkpoint.state, loaded.state, *parts)
        if vars(self.scheduler.lr_lambdas[0]) != planned:
            log.warning("the lr schedule continues as saved; changed schedule settings are ignored")
        self.epoch, self.batch, self.step = (
            position[k] for k in ("epoch", "batch_in_epoch", "step")
        )
        self.best, self.runner.skipped = position["best"], position["skipped_batches"]
        if self.ema is not None:
            restore_ema(self.ema, loaded.state, loaded.checkpoint.state)
        elif averaged_weights(loaded.state) is not None:
            log.warning("the run kept a weight average; train.ema_decay=0 now drops it")
        self.saved_step = self.step
        if len(rng) == self.info.world_size:
            restore_rng(rng[self.info.rank])
        else:  # another process count: the data order still follows (seed, epoch)
            log.warning(
                "resuming on %d processes, saved on %d: RNG reseeded",
                self.info.world_size,
                len(rng),
            )
            seed_everything(self.cfg.seed + self.info.rank + self.step)
        log.info(
            "resumed from %s (epoch %d, step %d)",
            loaded.checkpoint.weights.name,
            self.epoch,
            self.step,
        )

    def _result(self) -> TrainResult:
        complete = self.manager.complete()
        last = complete[-1].weights if complete else self.manager.paths(self.step).weights
        best = self.manager.best_path if self.manager.best_path.exists() else last
        return TrainResult(best, last, self.step, self.epoch, self.metrics, self.runner.skipped)


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
