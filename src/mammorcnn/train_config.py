"""`TrainConfig`: every knob of a training run, with the reason for its default.

Kept free of torch imports so loading and validating a config (and `--help`) stays fast.
Values a user can get wrong are checked in ``__post_init__`` and raise :class:`ConfigError`
naming the field, so a bad YAML fails before hours of data loading rather than mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mammorcnn.errors import ConfigError


@dataclass
class PhantomPretrainConfig:
    """Pretraining on generated phantom mammograms before the real data.

    From random initialisation a small set teaches little (docs/results.md, "What limits
    it"); phantoms (the demo's generator) cost nothing to make and carry what every mass
    detector needs: bright, bounded blobs on textured tissue. The run first trains its own
    model on them in RUN/pretrain, then trains on the real data from those weights
    (docs/training.md, "Phantom pretraining").
    """

    # Phantom mammograms to generate (in RUN/pretrain/phantoms, at
    # data.preprocess.image_size) and pretrain on; 0 = no pretraining.
    images: int = 0
    # Passes over the phantoms; the batch, crops, optimiser and schedule are the main
    # training's (lesion_repeat 1, no copy-paste, no validation).
    epochs: int = 8
    # Seed of the phantoms: image i depends only on (seed, i).
    seed: int = 7
    # Masses per phantom: an inclusive range.
    masses_per_image: tuple[int, int] = (1, 2)
    # Fraction of phantoms without a mass (lesion-free tissue to learn false positives on).
    negative_fraction: float = 0.15
    # Mass diameter as a fraction of the image side, drawn uniformly.
    size_range: tuple[float, float] = (0.04, 0.2)
    # How much a mass brightens the tissue, as a fraction of the intensity range: low values
    # give faint masses, as film's benign masses in dense tissue are.
    contrast_range: tuple[float, float] = (0.06, 0.2)

    def __post_init__(self) -> None:
        """Reject impossible values early, naming the field."""
        name = "train.phantom_pretrain"
        if self.images < 0 or self.epochs < 1:
            raise ConfigError(f"{name}: images must be >= 0 and epochs >= 1")
        lo, hi = self.masses_per_image
        if not 0 <= lo <= hi:
            raise ConfigError(f"{name}.masses_per_image must be 0 <= low <= high: {lo}, {hi}")
        if not 0 <= self.negative_fraction <= 1:
            raise ConfigError(f"{name}.negative_fraction must be in [0, 1]")
        if not 0 < self.size_range[0] <= self.size_range[1] < 0.5:
            raise ConfigError(f"{name}.size_range must be 0 < low <= high < 0.5")
        if not 0 < self.contrast_range[0] <= self.contrast_range[1] <= 1:
            raise ConfigError(f"{name}.contrast_range must be 0 < low <= high <= 1")


@dataclass
class RestorePretrainConfig:
    """Self-supervised pretraining: the backbone restores corrupted views of unlabelled images.

    Models Genesis (Zhou et al., 2019) pretrains a medical-image encoder from scratch without
    labels by restoring images from a random intensity curve, local pixel shuffling and in-
    or out-painting. The run first trains the backbone with a small decoder on these views in
    RUN/pretrain, then trains the detector from that backbone (docs/training.md,
    "Restoration pretraining"). Any mammograms can teach it: a PACS's unlabelled studies too.
    """

    # Passes over the images; 0 = no restoration pretraining. The batch, crops (lesion
    # repeats, copy-paste and drawn masses off), optimiser and schedule are the main training's.
    epochs: int = 0
    # COCO JSON of the images to restore (their annotations are not read); null = the
    # training annotations' images, so a cross-validation fold never sees its test women.
    images: str | None = None
    # Probability of mapping the grey levels through a random monotonic curve.
    intensity_prob: float = 0.9
    # Probability of shuffling the pixels of 200 small windows (texture to restore).
    shuffle_prob: float = 0.5
    # Probability of painting noise over part of the view (in-painting) or around it
    # (out-painting).
    paint_prob: float = 0.9
    # Of the paintings, the share that in-paints; the rest out-paints.
    inpaint_share: float = 0.2

    def __post_init__(self) -> None:
        """Reject impossible values early, naming the field."""
        name = "train.restore_pretrain"
        if self.epochs < 0:
            raise ConfigError(f"{name}.epochs must be >= 0 (0: off), got {self.epochs}")
        for field_name in ("intensity_prob", "shuffle_prob", "paint_prob", "inpaint_share"):
            value = getattr(self, field_name)
            if not 0 <= value <= 1:
                raise ConfigError(f"{name}.{field_name} must be in [0, 1], got {value}")


@dataclass
class TrainConfig:
    """Optimiser, schedule, checkpointing and run-time settings of `mammorcnn train`."""

    # Training annotations: a COCO JSON (as `mammorcnn convert` writes it) whose images lie
    # beside it; relative paths are taken from the working directory. Required by
    # run_training unless a dataset is passed in. (The spec is silent on every training
    # hyperparameter below; the defaults follow torchvision's Mask R-CNN recipe.)
    train_annotations: str | None = None
    # Validation annotations (same format); None disables validation and "best" selection.
    val_annotations: str | None = None

    # "sgd" (SGD with momentum, the Mask R-CNN paper's optimiser) or "adamw".
    optimizer: Literal["sgd", "adamw"] = "sgd"
    # Peak learning rate reached after warm-up (0.02 in the paper for 16 images per step;
    # scaled linearly to the default batch of 2 images per GPU on 1 GPU -> 0.0025).
    lr: float = 0.0025
    # SGD momentum (ignored by AdamW, which uses `betas`).
    momentum: float = 0.9
    # AdamW's (beta1, beta2).
    betas: tuple[float, float] = (0.9, 0.999)
    # L2 weight decay (SGD) / decoupled weight decay (AdamW).
    weight_decay: float = 1e-4
    # Do not decay biases and normalisation weights (all 1-D parameters; standard practice,
    # decaying them hurts).
    no_decay_norm_and_bias: bool = True
    # Optimiser steps of linear warm-up from `lr * warmup_factor` to `lr` (stabilises the RPN
    # early on, when random anchors produce large box-regression losses).
    warmup_steps: int = 500
    # Fraction of `lr` the warm-up starts from.
    warmup_factor: float = 0.001
    # After warm-up: "step" (multiply by `lr_gamma` at each epoch in `lr_steps`) or "cosine"
    # (cosine decay from `lr` to `lr * min_lr_ratio` at the last step) or "constant".
    schedule: Literal["step", "cosine", "constant"] = "step"
    # Epochs (counted from 0) at whose start the "step" schedule multiplies the lr by lr_gamma.
    lr_steps: list[int] = field(default_factory=lambda: [16, 22])
    # Decay factor of the "step" schedule.
    lr_gamma: float = 0.1
    # Final lr of the "cosine" schedule as a fraction of `lr`.
    min_lr_ratio: float = 0.0
    # Number of passes over the training set (the paper's 1x schedule is ~24 epochs on COCO
    # sized sets; mammography sets are small, so epochs rather than iterations are the unit).
    epochs: int = 24
    # Images per GPU (per process) and step; mammograms at 1024 px are memory-hungry.
    batch_size: int = 2
    # Clip the global gradient L2 norm to this value; None disables clipping.
    grad_clip_norm: float | None = 10.0
    # Store the convolution weights (and so their activations) in channels_last (NHWC)
    # format: oneDNN then skips reordering every activation. Measured in
    # docs/performance.md: a 1024-px CPU training step 0.95x torchvision's vs 1.12x without.
    channels_last: bool = True
    # Mixed precision: "none", "bf16" (autocast, no scaler needed) or "fp16" (autocast +
    # GradScaler). fp16 needs CUDA. On the CPU only "bf16", and only on CPUs with AVX512_BF16
    # or AMX (`grep -oE 'avx512_bf16|amx_bf16' /proc/cpuinfo`), where it about halves the step
    # time (docs/performance.md); on other CPUs it is emulated and slower than float32, so it
    # is disabled with a warning.
    amp: Literal["none", "bf16", "fp16"] = "none"
    # Seed of python/numpy/torch RNGs; each process uses seed + rank, each worker its own.
    seed: int = 0
    # Deterministic mode: torch.use_deterministic_algorithms(warn_only) + cuDNN deterministic
    # + CUBLAS_WORKSPACE_CONFIG (slower on GPUs), so a run (and a resumed run) repeats exactly
    # on the same hardware.
    # Shuffling and worker seeds follow (seed, epoch) in either mode.
    deterministic: bool = False
    # DataLoader worker processes per training process (0 = load in the main process).
    num_workers: int = 2
    # Validate (and consider a "best" checkpoint) every this many epochs and always after the
    # last one; 0 disables.
    val_every: int = 1
    # Number of most recent checkpoints kept (older ones are deleted; "best" is kept apart).
    keep_last: int = 3
    # Also checkpoint every this many optimiser steps inside an epoch (0 = only at epoch ends);
    # for long epochs on preemptible clusters.
    checkpoint_every_steps: int = 0
    # Validation metric that selects the "best" checkpoint: FROC sensitivity at 1 FP/image.
    best_metric: str = "froc/sens@1"
    # Whether a larger ("max") or smaller ("min") `best_metric` is better.
    best_mode: Literal["max", "min"] = "max"
    # Which weights become checkpoints/best.safetensors, the file `evaluate`/`predict --weights
    # RUN` use: "best" (best validation `best_metric`; the newest epoch's when the run validates
    # nothing: no val_annotations or val_every 0) or "last" (the newest epoch's; for small
    # validation sets, where the best of a few noisy values picks noise; docs/training.md,
    # "Small sets").
    select: Literal["best", "last"] = "best"
    # Exponential moving average of the weights (0 = off): after every optimiser step
    # average = decay * average + (1 - decay) * weights. Validation and
    # checkpoints/best.safetensors (what evaluate/predict --weights RUN use) then hold the
    # average, smoother than one step's weights where a small set makes every step noisy; the
    # step checkpoints keep the raw weights and carry the average in their state file, so a
    # resume is exact. 0.99 averages about the last 100 steps (docs/training.md, "Weight
    # averaging").
    ema_decay: float = 0.0
    # After training, run checkpoints/best.safetensors over the training images and keep in it
    # each class's false marks per image at each score, so that evaluate and predict report
    # 1 / (1 + that rate): 0.5 is about one false mark per training image, the same scale for
    # every training of a recipe (cross-validation folds pooled, an operating point carried to
    # the final model). Costs one inference pass over the training set (docs/evaluation.md,
    # "Score calibration").
    score_calibration: bool = False
    # Each training image with at least one lesion appears this many times per epoch (images
    # without lesions once): more lesion-bearing steps when lesions are rare. 1 = plain epochs.
    lesion_repeat: int = 1
    # On a NaN/inf loss or gradient: "stop" raises TrainingError naming the step, "skip"
    # drops the batch and counts it (the run stops after `max_skipped_batches`).
    on_nan: Literal["stop", "skip"] = "stop"
    # Skipped (non-finite) batches tolerated in a run before stopping anyway.
    max_skipped_batches: int = 100
    # "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N". Under torchrun each
    # process uses cuda:LOCAL_RANK regardless of N.
    device: str = "auto"
    # Log losses and lr every this many steps (console, TensorBoard, train_log.jsonl).
    log_every: int = 20
    # Write TensorBoard event files under RUN_DIR/tensorboard.
    tensorboard: bool = True
    # Validation images drawn with their predictions into TensorBoard at each validation
    # (each mark labelled with its class when the model has several).
    tb_overlays: int = 4
    # DistributedDataParallel: search for parameters without gradients every step. Only needed
    # for models with branches unused in some steps; it costs a graph traversal per step.
    ddp_find_unused_parameters: bool = False
    # Under DDP on GPUs, turn BatchNorm layers into SyncBatchNorm (statistics over the global
    # batch; worth it only for backbones with trainable BatchNorm and tiny per-GPU batches).
    sync_bn: bool = False
    # Show tqdm progress bars (rank 0 only).
    progress: bool = True
    # Pretraining on generated phantoms before the real data (off unless images > 0).
    phantom_pretrain: PhantomPretrainConfig = field(default_factory=PhantomPretrainConfig)
    # Self-supervised restoration pretraining of the backbone (off unless epochs > 0).
    restore_pretrain: RestorePretrainConfig = field(default_factory=RestorePretrainConfig)

    def __post_init__(self) -> None:
        """Reject impossible values early, naming the field."""
        positive = {"lr": self.lr, "epochs": self.epochs, "batch_size": self.batch_size}
        positive["lesion_repeat"] = self.lesion_repeat
        positive |= {"keep_last": self.keep_last, "log_every": self.log_every}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"train.{name} must be > 0, got {value!r}")
        non_negative = {
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "warmup_steps": self.warmup_steps,
            "num_workers": self.num_workers,
            "val_every": self.val_every,
            "checkpoint_every_steps": self.checkpoint_every_steps,
            "max_skipped_batches": self.max_skipped_batches,
            "tb_overlays": self.tb_overlays,
            "min_lr_ratio": self.min_lr_ratio,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {value!r}")
        if not 0 < self.warmup_factor <= 1:
            raise ConfigError(f"train.warmup_factor must be in (0, 1], got {self.warmup_factor}")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"train.lr_gamma must be in (0, 1], got {self.lr_gamma}")
        if self.grad_clip_norm is not None and self.grad_clip_norm <= 0:
            raise ConfigError("train.grad_clip_norm must be > 0 or null (no clipping)")
        if list(self.lr_steps) != sorted(self.lr_steps) or any(s < 0 for s in self.lr_steps):
            raise ConfigError(f"train.lr_steps must be increasing epochs >= 0: {self.lr_steps}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"train.ema_decay must be in [0, 1) (0: off), got {self.ema_decay}")
        if self.select not in ("best", "last"):
            raise ConfigError(f"train.select must be best or last, got {self.select!r}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train.betas must be in [0, 1): {self.betas}")
        dev = self.device
        if dev not in ("auto", "cpu", "cuda") and not (
            dev.startswith("cuda:") and dev[5:].isdigit()
        ):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {dev!r}")
