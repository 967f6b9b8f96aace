"""K-fold cross-validation by woman: K trainings, each evaluated on the women it never saw.

Small mammography sets (INbreast, MIAS) are reported this way: every woman is a test case
once, and the pooled FROC (all folds' detections against the whole ground truth) uses every
lesion. Layout of the output folder (docs/training.md, "Cross-validation"):

    crossval.json          the settings; a later call must match them (resume)
    folds/foldK_train.json, folds/foldK_test.json
    foldK/run/             the training run (resumable like any `mammorcnn train --out`)
    foldK/test/            report.json, predictions.json, results.json of the held-out women
    pooled/                report.json, report.html, froc.png and results.json of all folds'
                           detections together
    summary.json           per fold, pooled, mean and spread
    summary.md             the same as a Markdown table, for a paper or docs/

With test-time flips asked for at evaluation (``--test-time-flip``), the same trained folds
are evaluated again into ``foldK/test-flip/``, ``pooled-flip/`` and ``summary-flip.json``
(``-noflip`` for ``--no-test-time-flip``), beside the plain evaluation, so the two compare
on the same models (`mammorcnn compare DIR/pooled DIR/pooled-flip`).

``--nested-thresh T`` does the same for the suppression of nested detections
(``foldK/test-nestedT``, ``pooled-nestedT``, ``summary-nestedT.json``).

With ``--members N`` (a seed ensemble), every fold also trains ``foldK/run-member1`` ..
``run-member{N-1}``, the same config with ``train.seed`` raised by 1 .. N-1, and the N models
of a fold are evaluated together (docs/evaluation.md, "Ensembles") into ``foldK/test-ensN``,
``pooled-ensN`` and ``summary-ensN.json`` (``-ensN-flip`` with flips), beside the rest.

A killed call resumes: finished folds are kept, an interrupted training continues from its
newest checkpoint, and the pooled report is made once every fold is evaluated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.crossval_summary import format_summary_markdown, summarise
from mammorcnn.errors import ConfigError

log = logging.getLogger("mammorcnn.crossval")

STATE_FILE = "crossval.json"
SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.json"
TRAINED_MARK = "trained.json"


@dataclass
class CrossvalSettings:
    """What defines a cross-validation (all recorded in crossval.json)."""

    config: str  # YAML config of every fold's training
    data: str  # COCO JSON of all images
    folds: int = 5
    seed: int = 0  # seed of the assignment of women to folds
    overrides: tuple[str, ...] = ()  # dotted key=value overrides of the config
    hit_rule: str = "center"
    category: str | None = None  # score this category alone (metrics/category.py)

    def to_dict(self) -> dict:
        return {
            "config": str(Path(self.config).resolve()),
            "data": str(Path(self.data).resolve()),
            "folds": self.folds,
            "seed": self.seed,
            "overrides": list(self.overrides),
            "hit_rule": self.hit_rule,
            "category": self.category,
        }


def _write_json(path: Path, data: object) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode())


def write_folds(data: Path, folds: int, seed: int, out_dir: Path) -> list[tuple[Path, Path]]:
    """(train, test) COCO files per fold; women (patient_id) are never split, and women with
    and without lesions are spread over the folds separately."""
    from mammorcnn.data.coco import load_coco
    from mammorcnn.data.split import assign_patients, patients_of, write_subset

    if folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {folds}")
    coco = load_coco(data)
    patient_of, sizes, positive = patients_of(coco, data)
    if len(sizes) < folds:
        raise ConfigError(f"{data}: {len(sizes)} women cannot fill {folds} folds")
    names = [f"fold{k}" for k in range(folds)]
    fold_of = assign_patients(sizes, positive, dict.fromkeys(names, 1 / folds), seed)
    info = coco.get("info") if isinstance(coco.get("info"), dict) else {}
    out: list[tuple[Path, Path]] = []
    for name in names:
        test = {i["id"] for i in coco["images"] if fold_of[patient_of[i["id"]]] == name}
        train = {i["id"] for i in coco["images"]} - test
        meta = {**info, "crossval_fold": name, "seed": seed, "source": str(data)}
        paths = []
        for part, ids in (("train", train), ("test", test)):
            target = out_dir / f"{name}_{part}.json"
            paths.append(write_subset(coco, ids, data, target, {**meta, "split": part}))
        out.append((paths[0], paths[1]))
    return out


def _check_state(out_dir: Path, settings: CrossvalSettings) -> None:
    """Record the settings, or refuse to resume a folder made with other ones."""
    path = out_dir / STATE_FILE
    wanted = settings.to_dict()
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [k for k in wanted if saved.get(k) != wanted[k]]
        if changed:
            raise ConfigError(
                f"{path}: this folder holds a cross-validation with other settings "
                f"({', '.join(changed)}); use a new --out"
            )
        log.info("resuming the cross-validation in %s", out_dir)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(path, wanted)


def member_run_dir(fold_dir: Path, member: int) -> Path:
    """Where member ``member`` of a fold's seed ensemble trains (0: the fold's own run)."""
    return fold_dir / ("run" if member == 0 else f"run-member{member}")


def _member_overrides(settings: CrossvalSettings, members: int) -> list[list[str]]:
    """Per member, the overrides beyond the settings': none for member 0 (so a plain
    cross-validation's runs are reused), ``train.seed`` raised by m for member m."""
    if members < 1:
        raise ConfigError(f"--members must be >= 1, got {members}")
    if members == 1:
        return [[]]
    from mammorcnn.config import load_config

    seed = load_config(settings.config, list(settings.overrides)).train.seed
    return [[]] + [[f"train.seed={seed + m}"] for m in range(1, members)]


def _train_fold(
    settings: CrossvalSettings,
    train_json: Path,
    run_dir: Path,
    extra: list[str] | None = None,
    pretrained: Path | None = None,
) -> Path:
    """Train (or finish training) one fold's model (with ``extra`` overrides, from the
    phantom pretraining's weights `pretrained` if any); the weights its evaluation uses."""
    from mammorcnn.config import load_config
    from mammorcnn.engine.training.run import has_checkpoint, run_training

    mark = run_dir / TRAINED_MARK
    if mark.is_file():
        return Path(json.loads(mark.read_text())["weights"])
    overrides = [*settings.overrides, *(extra or []), f"train.train_annotations={train_json}"]
    overrides.append("train.val_annotations=null")  # the held-out fold is the test
    config = load_config(settings.config, overrides)
    result = run_training(config, run_dir, resume=has_checkpoint(run_dir), pretrained=pretrained)
    _write_json(mark, {"weights": str(result.best), "step": result.step})
    return Path(result.best)


def _evaluate_fold(
    weights: Path, test_json: Path, test_dir: Path, settings: CrossvalSettings, options
) -> None:
    """The fold's held-out women: every class's detections into results.json, the scores
    (of ``settings.category`` alone when given) into report.json."""
    from mammorcnn.data.coco import load_coco
    from mammorcnn.engine.inference.dataset_run import predict_dataset
    from mammorcnn.engine.metrics import evaluate_predictions
    from mammorcnn.engine.metrics.category import scored_part

    if (test_dir / "report.json").is_file() and (test_dir / RESULTS_FILE).is_file():
        return
    test_dir.mkdir(parents=True, exist_ok=True)
    results, _ = predict_dataset(weights, test_json, options, out_dir=test_dir)
    gt, scored, source = scored_part(
        load_coco(test_json), results, settings.category, str(test_json)
    )
    evaluate_predictions(
        gt,
        scored,
        settings.hit_rule,
        out_dir=test_dir,
        gt_source=source,
        predictions_source=f"predictions of {weights}",
        scoring=_scoring([test_dir]),
    )
    _write_json(test_dir / RESULTS_FILE, results)  # last: marks the fold as evaluated


def _scoring(test_dirs: list[Path]) -> dict | None:
    """How the folds' scores were made (their predictions files' shared settings), recorded
    in the report so that predict --operating-point can check its own run against it."""
    from mammorcnn.engine.inference.predictions_file import FILE_NAME, read_settings
    from mammorcnn.engine.metrics.operating_point import scoring_of_files

    files = [d / FILE_NAME for d in test_dirs if (d / FILE_NAME).is_file()]
    return scoring_of_files(read_settings(files)) if len(files) == len(test_dirs) else None


def _shared_pretraining(
    settings: CrossvalSettings, out_dir: Path, only: list[int] | None
) -> Path | None:
    """The phantom pretraining all folds start from (OUT/pretrain, made once: the phantoms
    hold nothing of any fold's images), if the config asks for one and a fold trains here."""
    from mammorcnn.config import load_config
    from mammorcnn.engine.training.phantom_pretrain import PRETRAIN_DIR
    from mammorcnn.engine.training.run import pretrain_once

    config = load_config(settings.config, settings.overrides)
    if config.train.phantom_pretrain.images == 0 or only == []:
        return None
    return pretrain_once(config, out_dir / PRETRAIN_DIR)


def evaluation_suffix(
    test_time_flip: bool | None,
    members: int = 1,
    nested_thresh: float | None = None,
    test_time_scales: list[float] | None = None,
    rank_decay: float | None = None,
    pectoral_weight: float | None = None,
    score_calibration: bool | None = None,
) -> str:
    """The folder suffix of an evaluation of a seed ensemble (``-ensN``), with test-time flips
    forced on or off (``-flip``, ``-noflip``), with a nested-detection threshold
    (``-nestedT``), with test-time scales (``-scales1_1.25``) and with a rank decay
    (``-decayG``), with a pectoral weight (``-pectoralW``) and with the raw scores of
    calibrated models (``-raw``); '' for one model whose checkpoint's own settings decide."""
    ensemble = f"-ens{members}" if members > 1 else ""
    flip = {None: "", True: "-flip", False: "-noflip"}[test_time_flip]
    nested = "" if nested_thresh is None else f"-nested{nested_thresh:g}"
    scales = (
        "" if test_time_scales is None else "-scales" + "_".join(f"{s:g}" for s in test_time_scales)
    )
    decay = "" if rank_decay is None else f"-decay{rank_decay:g}"
    pectoral = "" if pectoral_weight is None else f"-pectoral{pectoral_weight:g}"
    raw = "-raw" if score_calibration is False else ""
    return ensemble + flip + nested + scales + decay + pectoral + raw


def run_crossval(
    settings: CrossvalSettings,
    out_dir: Path,
    options=None,
    only: list[int] | None = None,
    review_page: bool = True,
    members: int = 1,
) -> dict | None:
    """Train and evaluate every fold (resuming what a killed call left), then pool; returns
    the summary (also written to summary.json). ``options`` are the inference options
    (:class:`~mammorcnn.engine.inference.dataset_run.DatasetRunOptions`). With ``only``, just
    those folds run (several processes or cluster jobs can share the folds); the summary is
    made, and returned, once every fold is evaluated, with the pooled review page
    (pooled/report.html) unless ``review_page`` is False. ``members`` > 1 trains that many
    models per fold (seeds apart) and evaluates their ensemble."""
    from mammorcnn.data.coco import load_coco
    from mammorcnn.engine.inference.dataset_run import DatasetRunOptions
    from mammorcnn.engine.metrics import HitRule, evaluate_predictions
    from mammorcnn.engine.metrics.category import category_id_named, scored_part
    from mammorcnn.engine.metrics.other_findings import add_other_findings_froc
    from mammorcnn.engine.metrics.per_category import add_per_category_froc

    out_dir = Path(out_dir)
    options = options or DatasetRunOptions()
    _check_state(out_dir, settings)
    if settings.category is not None:  # an unknown name stops before hours of training
        category_id_named(load_coco(settings.data), settings.category, settings.data)
    fold_files = write_folds(Path(settings.data), settings.folds, settings.seed, out_dir / "folds")
    bad = sorted(set(only or []) - set(range(settings.folds)))
    if bad:
        raise ConfigError(f"--fold {bad[0]}: folds are numbered 0..{settings.folds - 1}")
    member_overrides = _member_overrides(settings, members)
    suffix = evaluation_suffix(
        options.test_time_flip,
        members,
        options.nested_thresh,
        options.test_time_scales,
        options.rank_decay,
        options.pectoral_weight,
        options.score_calibration,
    )
    pooled_dir = out_dir / f"pooled{suffix}"
    pretrained = _shared_pretraining(settings, out_dir, only)
    reports, pooled_results = [], []
    for k, (train_json, test_json) in enumerate(fold_files):
        test_dir = out_dir / f"fold{k}" / f"test{suffix}"
        if only is None or k in only:
            log.info("fold %d of %d", k + 1, settings.folds)
            weights = [
                _train_fold(
                    settings, train_json, member_run_dir(out_dir / f"fold{k}", m), extra, pretrained
                )
                for m, extra in enumerate(member_overrides)
            ]
            fold_options = replace(options, ensemble=[str(w) for w in weights[1:]])
            _evaluate_fold(weights[0], test_json, test_dir, settings, fold_options)
        if not (test_dir / RESULTS_FILE).is_file():
            continue
        reports.append(json.loads((test_dir / "report.json").read_text()))
        pooled_results += json.loads((test_dir / RESULTS_FILE).read_text())
    if len(reports) < settings.folds:
        log.info("%d of %d folds evaluated; the pooled report waits", len(reports), settings.folds)
        return None
    gt, scored, source = scored_part(
        load_coco(settings.data), pooled_results, settings.category, settings.data
    )
    pooled = evaluate_predictions(
        gt,
        scored,
        settings.hit_rule,
        out_dir=pooled_dir,
        gt_source=source,
        predictions_source="the folds' predictions",
        per_image=True,
        scoring=_scoring([out_dir / f"fold{k}" / f"test{suffix}" for k in range(settings.folds)]),
    )
    rule = HitRule.parse(settings.hit_rule)
    add_other_findings_froc(pooled, gt, scored, rule, pooled_dir)
    add_per_category_froc(pooled, gt, scored, rule, pooled_dir, source)  # without --category
    _write_json(pooled_dir / RESULTS_FILE, pooled_results)  # every class, as the folds wrote
    if review_page:  # every woman's images with their hits, misses and false positives
        from mammorcnn.engine.report.evaluation_page import write_evaluation_page

        sources = [("config", settings.config), ("data", settings.data), ("folds", settings.folds)]
        data_dir = Path(settings.data).parent
        write_evaluation_page(pooled_dir, pooled, gt, scored, data_dir, sources)
    summary = summarise(reports, pooled)
    _write_json(out_dir / SUMMARY_FILE.replace(".json", f"{suffix}.json"), summary)
    markdown = format_summary_markdown(summary, title=f"`{out_dir.name}`{suffix}")
    atomic_write_bytes(out_dir / f"summary{suffix}.md", markdown.encode())
    return summary
