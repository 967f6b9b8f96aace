"""`predict_files`: a trained model over image files (or PACS instances), every output written.

The loop of `mammorcnn predict`, as a function a Python user calls too: inputs are read and
prepared one batch at a time, detections mapped to the original pixels, and each image's
files (mask and overlay PNGs, DICOM SEG) written before the next; then predictions.json, the
index.html review page and skipped.json. A bad input stops the run naming it, or with
``skip_bad`` is skipped and listed. SIGTERM/Ctrl-C (under the CLI's GracefulStop) stops
between images with every written file whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mammorcnn.engine.inference.dataset_run import (
    DatasetRunOptions,
    contralateral_settings,
    load_for_options,
    predictor_for,
    run_settings,
)
from mammorcnn.errors import MammoError

log = logging.getLogger("mammorcnn.predict")

SKIPPED_FILE = "skipped.json"


@dataclass
class FilesRunResult:
    """What a run wrote: image entries, COCO results, skipped inputs, and (PACS) the pushes."""

    out: Path
    images: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    pushed: Any = None


def predict_files(
    weights: str | Path,
    inputs: Sequence[Path] | None,
    out: Path,
    options: DatasetRunOptions | None = None,
    *,
    seg: bool = True,
    overlay: bool = True,
    remote: Any = None,
    push: bool = False,
    force: bool = False,
    held: ExitStack | None = None,
) -> FilesRunResult:
    """Predict ``inputs`` (files and folders) or the PACS instances of ``remote`` (a
    :class:`~mammorcnn.engine.dicomweb.DicomwebInputs`) into ``out``; with ``held`` the folder
    stays locked until ``held`` closes."""
    from tqdm import tqdm

    from mammorcnn.engine.folder_lock import claim_output_folder
    from mammorcnn.engine.graceful_stop import stop_if_requested
    from mammorcnn.engine.inference import find_inputs, output_stem
    from mammorcnn.engine.inference.contralateral_stream import HeldImage
    from mammorcnn.engine.inference.other_breast_stream import OtherBreastPairing, WaitingImage
    from mammorcnn.engine.inference.predictions_file import FILE_NAME, write_predictions
    from mammorcnn.engine.inference.predictor import PreparedImage, batched, to_original
    from mammorcnn.engine.inference.writer import ImageWriter
    from mammorcnn.engine.outputs import unique_output_names, write_json
    from mammorcnn.engine.report.prediction_page import write_prediction_index

    opts = options or DatasetRunOptions(score_threshold=0.5)
    paths = remote.instances if remote else find_inputs(list(inputs or []), exclude=out)
    label = remote.label if remote else str
    loaded = load_for_options(weights, opts)
    weight, radius = contralateral_settings(opts, loaded)
    stream = None
    if weight > 0:
        from mammorcnn.engine.inference.contralateral_stream import ContralateralStream

        # every detection goes into the rule; the threshold and the cap come after it
        stream = ContralateralStream(weight, radius, opts.score_threshold, opts.max_detections)
        predictor = predictor_for(loaded, replace(opts, score_threshold=0.0, max_detections=None))
    else:
        predictor = predictor_for(loaded, opts)
    check_operating_point(opts, predictor)  # before anything is written
    claim_output_folder(out, held)
    names = unique_output_names(remote.names if remote else (output_stem(p) for p in paths))
    writer = ImageWriter(out, loaded, seg=seg, overlay=overlay)
    run = FilesRunResult(out)

    def skip(path: Any, kind: str, error: MammoError) -> None:
        error = remote.relabel(error) if remote else error
        if not opts.skip_bad or getattr(error, "fatal", False):
            raise error
        where = label(path)
        # the error names the file already ("x.png: corrupt"); say it once
        log.warning("skipped %s", error if where in str(error) else f"{where}: {error}")
        problem = getattr(error, "problem", None) or str(error)
        run.skipped.append({"file": where, "kind": kind, "problem": problem})

    def prepared():  # noqa: ANN202 - yields (image id, output name, PreparedImage)
        for image_id, (path, name) in enumerate(zip(paths, names), start=1):
            try:
                yield image_id, name, predictor.prepare_file(remote.fetch(path) if remote else path)
            except MammoError as error:
                skip(path, "image", error)

    pairing = OtherBreastPairing() if loaded.preprocess.other_breast else None

    def model_inputs():  # noqa: ANN202 - yields (image id, output name, PreparedImage)
        """The prepared films, each with its other breast when the model reads two."""
        if pairing is None:
            yield from prepared()
            return
        for image_id, name, item in prepared():
            for ready in pairing.add(WaitingImage(image_id, name, item)):
                yield ready.image_id, ready.name, ready.item
        for ready in pairing.flush():
            yield ready.image_id, ready.name, ready.item
        if pairing.unpaired:
            log.warning(
                "%d image(s) read without their other breast (no study, no side, or no "
                "partner in the same study and view next to them): their second channel is "
                "empty",
                pairing.unpaired,
            )

    def write(image_id: int, name: str, item: PreparedImage, det: Any) -> None:
        # e.g. a DICOM without the UIDs a SEG must reference
        writer.write(image_id, name, item, det, lambda e, p=item.source: skip(p, "seg", e))
        if remote:
            remote.release(item.source)

    def write_held(released: list) -> None:  # HeldImage: model-space detections
        for held in released:
            det = to_original(held.output, held.item.record, predictor.with_masks)
            write(held.image_id, held.name, held.item, det)

    log.info("predicting %d file(s) into %s", len(paths), out)
    with tqdm(total=len(paths), desc="predict", unit="image", disable=None) as bar:
        for batch in batched(model_inputs(), opts.batch_size):
            items = [item for _, _, item in batch]
            if stream is None:
                for (image_id, name, item), det in zip(batch, predictor.predict(items)):
                    write(image_id, name, item, det)
            else:
                for (image_id, name, item), output in zip(batch, predictor.run(items)):
                    write_held(stream.add(HeldImage(image_id, name, item, output)))
            bar.update(len(batch))
            # SIGTERM/Ctrl-C: stop between images (exit 143/130); each image's files are whole
            stop_if_requested(
                f"with {len(writer.images)} of {len(paths)} image(s) written to {out}"
            )
        if stream is not None:
            write_held(stream.flush())
        bar.update(len(paths) - bar.n)  # skipped files
    settings = run_settings(opts, predictor)
    run.images = remote.entries(writer.images) if remote else writer.images
    run.results = writer.results
    write_predictions(out / FILE_NAME, run.images, run.results, loaded, settings)
    write_prediction_index(out)  # index.html: overlays by study and breast (docs/evaluation.md)
    if opts.skip_bad:
        write_json(run.skipped, out / SKIPPED_FILE, indent=1)
    if remote:
        identity = {**settings, "proposals": opts.proposals, "bf16": opts.bf16}
        run.pushed = remote.finish(out, writer.images, loaded.path, identity, push, force)
        remote.close()
    return run


def check_operating_point(opts: DatasetRunOptions, predictor) -> None:  # noqa: ANN001 - Predictor
    """Refuse an --operating-point report measured with other score-changing settings than
    this run's (its threshold would mean another false-positive rate); warn when the report
    is too old to say."""
    from mammorcnn.engine.metrics.operating_point import check_report_scoring, scoring_settings

    if opts.operating_point is None:
        return
    report = Path(opts.operating_point["report"])
    if not check_report_scoring(report, scoring_settings(run_settings(opts, predictor))):
        log.warning(
            "%s does not record how its scores were made (a report of bare COCO results, or "
            "of an older mammorcnn); "
            "make sure it was evaluated with this run's flips, nested "
            "threshold, rank decay and contralateral rule",
            report,
        )
