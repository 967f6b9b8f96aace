"""`evaluate_dataset`: the scores of a model (or of saved predictions) on an annotated set.

What `mammorcnn evaluate` does, as one function that the CLI, the demo's users and Python
callers share: the model's detections through `predict_dataset` (or a saved results file),
the images left out by ``skip_bad`` removed with their lesions, FROC with bootstrap
intervals, COCO mAP and Dice (`evaluate_predictions`), the FROC without images of other
findings, and in ``out`` report.json, the plots, skipped.json and the review page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from mammorcnn.engine.inference.dataset_run import DatasetRunOptions
from mammorcnn.engine.inference.files_run import SKIPPED_FILE
from mammorcnn.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """The report (as in report.json), the images left out, and the extra FROC's lines."""

    report: dict
    skipped: list[dict] = field(default_factory=list)
    other_findings: str | None = None
    per_category: str | None = None


def without_images(gt: dict, skipped: list[dict]) -> dict:
    """The ground truth without the skipped images and their lesions: an image the model
    never saw must not count its lesions as missed."""
    ids = {entry["id"] for entry in skipped}
    return {
        **gt,
        "images": [image for image in gt["images"] if image["id"] not in ids],
        "annotations": [ann for ann in gt["annotations"] if ann["image_id"] not in ids],
    }


def evaluate_dataset(
    data: Path,
    *,
    weights: Path | None = None,
    results_file: Path | Sequence[Path] | None = None,
    out: Path | None = None,
    options: DatasetRunOptions | None = None,
    hit_rule: str = "center",
    n_resamples: int = 2000,
    html: bool = True,
    held: ExitStack | None = None,
    category: str | None = None,
) -> Evaluation:
    """Score ``weights`` (run on the images of ``data``) or a saved ``results_file`` against
    ``data``; with ``out`` also write every output file (the folder locked while ``held``).
    ``category`` scores that category's lesions and predictions alone (metrics/category.py)."""
    from mammorcnn.data import load_coco
    from mammorcnn.engine.folder_lock import claim_output_folder
    from mammorcnn.engine.inference.dataset_run import predict_dataset
    from mammorcnn.engine.inference.predictions_file import FILE_NAME as PREDICTIONS_FILE
    from mammorcnn.engine.inference.predictions_file import read_results
    from mammorcnn.engine.metrics import HitRule, evaluate_predictions
    from mammorcnn.engine.metrics.category import category_id_named, scored_part
    from mammorcnn.engine.metrics.other_findings import add_other_findings_froc
    from mammorcnn.engine.metrics.per_category import add_per_category_froc
    from mammorcnn.engine.outputs import write_json

    if (weights is None) == (results_file is None):
        raise ConfigError("give either weights or a results file to evaluate")
    opts = options or DatasetRunOptions()
    if weights is None:
        refuse_model_options(opts)
    if opts.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {opts.batch_size}")
    if n_resamples < 1:
        raise ConfigError(f"--bootstrap must be >= 1, got {n_resamples}")
    rule = HitRule.parse(hit_rule)
    gt = load_coco(data)
    if category is not None:  # an unknown name stops before the model runs
        category_id_named(gt, category, str(data))
    elif len(gt.get("categories") or []) > 1:
        # FROC is class-agnostic: say so where a reader of a three-type file would expect masses.
        names = ", ".join(str(c.get("name")) for c in gt["categories"])
        logger.info(
            "%s has %d categories (%s): every category's lesions and marks are scored "
            "together, each category's FROC alone follows; --category NAME scores one alone",
            data, len(gt["categories"]), names,
        )  # fmt: skip
    if out is not None:
        claim_output_folder(out, held, "evaluate")
    skipped: list[dict] = []
    if results_file is not None:
        results = read_results(results_file, gt, data)
        files = [results_file] if isinstance(results_file, str | Path) else list(results_file)
        source = ", ".join(map(str, files))
        results = rescored_contralateral(results, gt, files, data, opts)
        results = rescored_rank_decay(results, files, opts)
        scoring = results_scoring(files, opts)
    else:
        results, skipped = predict_dataset(weights, data, opts, out_dir=out)
        source = f"predictions of {', '.join(map(str, [weights, *opts.ensemble]))}"
        scoring = None if out is None else results_scoring([out / PREDICTIONS_FILE], opts)
    if opts.skip_bad:
        gt = without_images(gt, skipped)
        if not gt["images"]:
            raise ConfigError(f"{data}: every image was skipped; nothing to evaluate")
        if out is not None:
            write_json(skipped, out / SKIPPED_FILE, indent=1)
    gt, results, gt_source = scored_part(gt, results, category, str(data))
    report = evaluate_predictions(
        gt,
        results,
        rule,
        out_dir=out,
        gt_source=gt_source,
        predictions_source=source,
        n_resamples=n_resamples,
        per_image=out is not None,
        scoring=scoring,
    )
    # a second FROC without the images marked has_other_findings by convert (docs/data.md)
    other_findings = add_other_findings_froc(report, gt, results, rule, out)
    # each category's own FROC when all were scored together (None for one category)
    per_category = add_per_category_froc(report, gt, results, rule, out, gt_source)
    if out is not None and html:
        from mammorcnn.engine.report.evaluation_page import write_evaluation_page

        used = ("weights", weights) if results_file is None else ("results", source)
        sources = [used, ("data", data)]
        write_evaluation_page(out, report, gt, results, Path(data).parent, sources, True)
    return Evaluation(report, skipped, other_findings, per_category)


def results_scoring(files: Sequence[Path], opts: DatasetRunOptions) -> dict | None:
    """How the evaluated scores were made (operating_point.scoring_settings), for the
    report: the predictions files' settings with the rescoring the options applied on top;
    None when the files do not say (bare COCO lists) or disagree."""
    from mammorcnn.engine.inference.dataset_run import contralateral_settings
    from mammorcnn.engine.inference.predictions_file import read_settings
    from mammorcnn.engine.metrics.operating_point import scoring_of_files

    scoring = scoring_of_files(read_settings(files))
    if scoring is None:
        return None
    if opts.rank_decay is not None:
        scoring["rank_decay"] = opts.rank_decay
    if opts.contralateral_weight is not None or opts.contralateral_radius is not None:
        weight, radius = contralateral_settings(opts)
        scoring["contralateral"] = {"weight": weight, "radius": radius} if weight > 0 else None
    return scoring


def refuse_model_options(opts: DatasetRunOptions) -> None:
    """One-line ConfigError for an option that only running the model applies, given with
    saved results (which it would silently leave as they are)."""
    given = {
        "--ensemble": bool(opts.ensemble),
        "--nested-thresh": opts.nested_thresh is not None,
        "--test-time-flip/--no-test-time-flip": opts.test_time_flip is not None,
        "--test-time-scales": opts.test_time_scales is not None,
        "--proposals": opts.proposals is not None,
        "--bf16": opts.bf16,
        "--score-calibration/--no-score-calibration": opts.score_calibration is not None,
    }
    if opts.pectoral_weight is not None:
        raise ConfigError(
            "--pectoral-weight finds the muscle in the model's input images, which a results "
            "file does not hold (give --weights to run the model with it)"
        )
    for option, used in given.items():
        if used:
            raise ConfigError(
                f"{option} changes how the model runs; a results file has no model "
                "(give --weights to run it)"
            )


def rescored_rank_decay(results: list[dict], files: list, opts: DatasetRunOptions) -> list[dict]:
    """Saved results with each image's k-th detection of a class scored times
    ``opts.rank_decay ** k`` (rank_decay.py), when the options ask for it. Refused on files
    already decayed (it would compound) or with the contralateral rule, which runs after the
    decay when the model runs and would run before it here."""
    import torch

    from mammorcnn.engine.inference.predictions_file import read_settings
    from mammorcnn.engine.inference.rank_decay import check_decay, decay_by_rank

    if opts.rank_decay is None:
        return results
    decay = check_decay(opts.rank_decay, "--rank-decay")
    for path, settings in read_settings(files).items():
        for done in ("rank_decay", "contralateral", "score_calibration"):
            if done in settings:
                raise ConfigError(
                    f"{path}: its scores were made with {done.replace('_', ' ')}; "
                    "--rank-decay rescores results made without any of these"
                )
    if opts.contralateral_weight:
        raise ConfigError(
            "--rank-decay and --contralateral-weight on saved results: the model applies the "
            "decay first; give --weights to run both"
        )
    by_image: dict[object, list[int]] = {}
    for i, entry in enumerate(results):
        by_image.setdefault(entry.get("image_id"), []).append(i)
    out = [dict(entry) for entry in results]
    for members in by_image.values():
        scores = [results[i].get("score") for i in members]
        labels = [results[i].get("category_id") for i in members]
        numbers = all(isinstance(s, int | float) and not isinstance(s, bool) for s in scores)
        if not numbers or not all(type(c) is int for c in labels):
            continue  # the evaluator names the bad entry
        decayed = decay_by_rank(
            torch.tensor(scores, dtype=torch.float64), torch.tensor(labels), decay
        )
        for i, score in zip(members, decayed.tolist()):
            out[i]["score"] = score
    return out


def rescored_contralateral(
    results: list[dict], gt: dict, files: list, data: Path, opts: DatasetRunOptions
) -> list[dict]:
    """Saved results with the contralateral rule applied when the options ask for it, always
    from the scores before any rule (a predictions file made with the rule keeps them), so
    ``--contralateral-weight 0`` shows the results without it. Needs predictions.json files:
    their preprocessing records map boxes to the breast."""
    from mammorcnn.engine.inference.contralateral import suppress_results
    from mammorcnn.engine.inference.dataset_run import contralateral_settings
    from mammorcnn.engine.inference.predictions_file import read_records

    if opts.contralateral_weight is None and opts.contralateral_radius is None:
        return results
    weight, radius = contralateral_settings(opts)
    before = [
        {key: value for key, value in entry.items() if key != "score_before_contralateral"}
        | {"score": entry.get("score_before_contralateral", entry.get("score"))}
        for entry in results
    ]
    if weight == 0:
        return before
    records = read_records(files, gt, data)
    if not records:
        raise ConfigError(
            "--contralateral-weight with --results needs predictions.json files (their "
            "preprocessing records map boxes to the breast), not bare COCO results"
        )
    return suppress_results(before, gt["images"], records, weight, radius)
