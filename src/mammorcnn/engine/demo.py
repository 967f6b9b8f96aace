"""The built-in demo: phantoms -> training -> evaluation on unseen phantoms -> report.

`run_demo` is what `mammorcnn demo` runs and what a notebook can call. It only wires existing
parts together (phantom generator, `run_training`, the inference `Predictor`, the metrics
report, the overlay writer), with the settings of the shipped ``configs/demo.yaml``: the
specification's architecture at a reduced size that learns the phantoms on a laptop CPU in
minutes. docs/demo.md gives the reasons for each reduction and the measured result.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mammorcnn.config import Config, config_from_dict, merge_config_dicts, parse_overrides
from mammorcnn.errors import ConfigError, InputError

log = logging.getLogger("mammorcnn.demo")

DEMO_CONFIG = "demo.yaml"
MARKER = "demo.json"  # marks a folder the demo may overwrite; the run's summary at the end
SUBDIRS = ("data", "run", "eval", "overlays", "cache")


@dataclasses.dataclass
class DemoSettings:
    """The ``demo`` section of demo.yaml: the phantom sets (see the comments there)."""

    train_images: int = 96
    val_images: int = 16
    test_images: int = 40
    phantom_size: int = 512
    test_negative_fraction: float = 0.25
    overlays: int = 4
    threads: int = 1

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), float if f.type in ("float", float) else int
            if isinstance(value, bool) or not isinstance(value, kind | int):
                raise ConfigError(f"demo.{f.name}: expected {kind.__name__}, got {value!r}")
            setattr(self, f.name, kind(value))
        if min(self.train_images, self.val_images, self.test_images) < 1:
            raise ConfigError("demo: train_images, val_images and test_images must be >= 1")
        if self.phantom_size < 32 or self.overlays < 0 or self.threads < 0:
            raise ConfigError("demo: phantom_size must be >= 32, overlays and threads >= 0")
        if not 0 <= self.test_negative_fraction < 1:
            raise ConfigError("demo.test_negative_fraction must be in [0, 1)")


def demo_config(
    path: Path | None = None,
    quick: bool = False,
    seed: int = 0,
    overrides: list[str] | None = None,
) -> tuple[DemoSettings, Config]:
    """The demo's phantom settings and training config (the shipped demo.yaml by default),
    with dotted ``key=value`` overrides applied last (``demo.train_images=200``)."""
    if path is None:
        text = resources.files("mammorcnn").joinpath("configs", DEMO_CONFIG).read_text("utf-8")
        source = Path(f"mammorcnn/configs/{DEMO_CONFIG}")
    else:
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(source, f"cannot be read ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections")
    quick_part = data.pop("quick", {}) or {}
    if quick:
        data = merge_config_dicts(data, quick_part)
    data = merge_config_dicts(data, parse_overrides(list(overrides or []))[0])
    section = data.pop("demo", {}) or {}
    known = {f.name for f in dataclasses.fields(DemoSettings)}
    if not isinstance(section, dict) or set(section) - known:
        raise ConfigError(f"{source}: demo: unknown keys {sorted(set(section) - known)}")
    settings = DemoSettings(**section)
    config = config_from_dict(data, source=source)
    config.train.seed = seed
    return settings, config


def set_threads(threads: int) -> int:
    """Use `threads` CPU threads (0: torch's default) unless OMP_NUM_THREADS says otherwise.

    Measured on 2 shared cores: with the other core busy, 2 threads made a training step 8x
    slower than 1 thread (OpenMP workers wait for each other at every operator), while on idle
    cores 2 threads were only ~1.6x faster. One thread is also what makes the run repeatable
    bit for bit whatever the machine's load (the thread count changes reduction order).
    """
    import torch

    if threads and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _prepare_out_dir(out: Path) -> None:
    """Refuse a foreign non-empty folder; clear an earlier demo's outputs (and only those)."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise InputError(
                out,
                f"is not empty and holds no {MARKER} from an earlier demo; choose another --out",
            )
        for name in SUBDIRS:
            if name != "cache":  # the preprocessed-image cache stays valid (keyed by content)
                shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    # Written first, so an interrupted demo's folder is still recognised as one.
    (out / MARKER).write_text('{"status": "running"}\n', encoding="utf-8")


def _generate(settings: DemoSettings, data_dir: Path, seed: int) -> dict[str, Path]:
    from mammorcnn.data import generate_phantom_dataset

    sets = {
        "train": (settings.train_images, seed, 0.0),
        "val": (settings.val_images, seed + 1, 0.0),
        "test": (settings.test_images, seed + 2, settings.test_negative_fraction),
    }
    out = {}
    for name, (n, set_seed, negatives) in sets.items():
        out[name] = generate_phantom_dataset(
            data_dir / name, n, set_seed, settings.phantom_size, negative_fraction=negatives
        )
        log.info("generated %d %s phantoms in %s", n, name, data_dir / name)
    return out


def _seconds_per_step(config: Config, train_json: Path) -> float:
    """Median wall time of a few training steps on a throwaway model (for --minutes)."""
    import torch

    from mammorcnn.data import CocoMammoDataset, collate_fn
    from mammorcnn.engine.training.optim import build_optimizer
    from mammorcnn.model import build_model

    model = build_model(config.model).train()
    dataset = CocoMammoDataset(train_json, config.data, train=True)
    optimizer = build_optimizer(model, config.train)
    times = []
    for k in range(4):
        n = config.train.batch_size
        images, targets = collate_fn([dataset[(k * n + i) % len(dataset)] for i in range(n)])
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    del model, optimizer
    torch.manual_seed(config.train.seed)  # run_training re-seeds anyway
    return sorted(times[1:])[1]


def _fit_budget(config: Config, settings: DemoSettings, train_json: Path, seconds: float) -> None:
    """Lower `config.train.epochs` to what fits; 15% kept for what the estimate leaves out
    (data loading, checkpoints, TensorBoard, a machine getting busier)."""
    if seconds <= 0:
        raise ConfigError("--minutes: the budget is spent before training starts")
    step_s = _seconds_per_step(config, train_json)
    epochs = fit_epochs(config, settings, step_s, seconds / 1.15)
    if epochs < config.train.epochs:
        log.warning(
            "--minutes: a training step takes %.2f s here, so %d of %d epochs fit the budget",
            step_s, epochs, config.train.epochs,
        )  # fmt: skip
        config.train.epochs = epochs


def fit_epochs(config: Config, settings: DemoSettings, step_s: float, seconds: float) -> int:
    """Most epochs (at most the configured ones, at least 1) that fit in `seconds`.

    Predicting one image is taken as a quarter of a training step (of the demo's 2 images;
    measured 0.2-0.38 on 2 CPU cores), paid for every validation, test image and overlay.
    """
    t, s = config.train, settings
    steps, per_image = -(-s.train_images // t.batch_size), step_s / 4
    for epochs in range(t.epochs, 0, -1):
        validations = sum(1 for e in range(1, epochs + 1) if e % t.val_every == 0 or e == epochs)
        images = validations * s.val_images + s.test_images + s.overlays
        if epochs * steps * step_s + images * per_image <= seconds:
            return epochs
    return 1


def evaluate_test_set(
    weights: Path,
    test_json: Path,
    out: Path,
    n_overlays: int,
    config: Config,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict the test phantoms with the saved weights exactly as `mammorcnn evaluate` does.

    The same engine function (`predict_dataset`: the fast load, the checkpoint's
    preprocessing, detections in the original phantom pixels) and the same scoring
    (`evaluate_predictions`: report.json, froc.png, pr_curve.png, report.html and
    predictions.json in OUT/eval); the
    first `n_overlays` images are drawn at the 1-FP-per-image operating point in OUT/overlays.
    """
    from mammorcnn.data import read_image
    from mammorcnn.data.coco import resolve_image_path
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions, predict_dataset
    from mammorcnn.engine.inference.predictions_file import FILE_NAME as PREDICTIONS_FILE
    from mammorcnn.engine.inference.predictions_file import read_settings
    from mammorcnn.engine.metrics import evaluate_predictions
    from mammorcnn.engine.metrics.operating_point import scoring_of_files
    from mammorcnn.engine.outputs import write_coco_results, write_overlay_png
    from mammorcnn.engine.report.evaluation_page import write_evaluation_page

    options = DatasetRunOptions(
        device=config.train.device, cache_dir=config.data.cache_dir, bf16_hint=False
    )  # the demo has no --bf16
    (out / "eval").mkdir(parents=True, exist_ok=True)
    results, _ = predict_dataset(weights, test_json, options, out / "eval", progress=progress)
    write_coco_results(results, out / "eval" / "results.json")
    gt = json.loads(Path(test_json).read_text(encoding="utf-8"))
    # how the scores were made, from the predictions.json just written (as evaluate records it)
    scoring = scoring_of_files(read_settings([out / "eval" / PREDICTIONS_FILE]))
    report = evaluate_predictions(
        gt, results, out_dir=out / "eval", gt_source=str(test_json), predictions_source="demo",
        per_image=True, scoring=scoring,
    )  # fmt: skip
    sources = [("weights", weights), ("data", test_json)]
    write_evaluation_page(out / "eval", report, gt, results, Path(test_json).parent, sources)
    threshold = report["dice"]["score_threshold"]
    shown = 1.0 + 1e-9 if threshold is None else threshold  # None: nothing within 1 FP
    for info in gt["images"][:n_overlays]:
        pixels = read_image(resolve_image_path(info["file_name"], Path(test_json).parent)).pixels
        name = Path(info["file_name"]).stem + "_overlay.png"
        mine = [r for r in results if r["image_id"] == info["id"]]
        path = out / "overlays" / name
        write_overlay_png(pixels, detections_of(mine), path, score_threshold=shown)
    return report


def detections_of(results: list[dict]) -> dict[str, np.ndarray]:
    """COCO results of one image (bbox xywh, RLE masks) as a detections dict for drawing."""
    from mammorcnn.engine.metrics.matching import decode_rle

    boxes = np.array([r["bbox"] for r in results], dtype=np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    detections = {
        "boxes": boxes,
        "scores": np.array([r["score"] for r in results], dtype=np.float64),
        "labels": np.array([r["category_id"] for r in results], dtype=np.int64),
    }
    if results and all("segmentation" in r for r in results):
        detections["masks"] = np.stack([decode_rle(r["segmentation"]) for r in results])
    return detections


def run_demo(
    out_dir: Path | str = "demo_out",
    *,
    quick: bool = False,
    seed: int = 0,
    minutes: float | None = None,
    config_path: Path | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate phantoms, train, evaluate on unseen phantoms; return the evaluation report.

    The report is `evaluate_predictions`' dict plus ``report["demo"]``: the output paths,
    the seconds each phase took and the settings used. With `minutes`, the number of epochs
    is lowered (never raised) so the whole run fits that budget on this machine.
    """
    import torch

    start = time.perf_counter()
    out = Path(out_dir).resolve()
    settings, config = demo_config(config_path, quick, seed, overrides)
    config.train.progress = progress
    if minutes is not None and minutes <= 0:
        raise ConfigError(f"--minutes must be > 0, got {minutes}")
    _prepare_out_dir(out)
    before = torch.get_num_threads()
    try:
        threads = set_threads(settings.threads)
        report = _run(out, settings, config, minutes, start, progress)
    finally:
        torch.set_num_threads(before)  # a notebook keeps its own setting
    report["demo"].update(quick=quick, seed=seed, threads=threads)
    (out / MARKER).write_text(json.dumps(report["demo"], indent=2) + "\n", encoding="utf-8")
    return report


def _run(
    out: Path,
    settings: DemoSettings,
    config: Config,
    minutes: float | None,
    start: float,
    progress: bool,
) -> dict[str, Any]:
    from mammorcnn.engine.training import run_training

    timings: dict[str, float] = {}
    data = _generate(settings, out / "data", config.train.seed)
    config.train.train_annotations = str(data["train"])
    config.train.val_annotations = str(data["val"])
    config.data.cache_dir = str(out / "cache")
    timings["generate_s"] = time.perf_counter() - start

    if minutes is not None:
        _fit_budget(config, settings, data["train"], minutes * 60 - (time.perf_counter() - start))
    phase = time.perf_counter()
    result = run_training(config, out / "run")
    timings["train_s"] = time.perf_counter() - phase

    phase = time.perf_counter()
    report = evaluate_test_set(result.best, data["test"], out, settings.overlays, config, progress)
    timings["evaluate_s"] = time.perf_counter() - phase
    timings["total_s"] = time.perf_counter() - start

    report["demo"] = {
        "out_dir": str(out),
        "weights": str(result.best),
        "run_dir": str(out / "run"),
        "report": str(out / "eval" / "report.json"),
        "froc_plot": str(out / "eval" / "froc.png"),
        "pr_plot": str(out / "eval" / "pr_curve.png"),
        "overlays": str(out / "overlays"),
        "test_annotations": str(data["test"]),
        "epochs": config.train.epochs,
        "steps": result.step,
        "settings": dataclasses.asdict(settings),
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    return report
