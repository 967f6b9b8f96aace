"""Pooled FROC of kept cross-validations with the detections centred in the pectoral muscle
dropped (``model.box_head.pectoral_weight: 1``), from their pooled ``results.json`` alone.

Kept run records (docs/run-records) hold every pooled detection in original pixels. This
preprocesses each image of the data file as the config says (the model's input, chest wall on
the left), finds the muscle's edge there (``find_pectoral_line``, what the predictor runs),
maps each detection's box centre into the input, drops those inside the muscle of MLO-type
views (``in_muscle``), and scores what is left with ``mammorcnn evaluate --results``. The
records were made with the rank decay, so this drops after it, as the predictor does.
docs/results.md, "Pectoral muscle".

    python benchmarks/pectoral_records.py --data mias/all.json \
        --config src/mammorcnn/configs/mini-mias.yaml --out /tmp/pectoral \
        docs/run-records/cv_*/pooled/results.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from mammorcnn.config import load_config
from mammorcnn.data.cache import dequantise, quantise
from mammorcnn.data.io import read_image
from mammorcnn.data.preprocess import PreprocessRecord, preprocess
from mammorcnn.engine.inference.pectoral import (
    MUSCLE_VIEWS,
    PectoralLine,
    find_pectoral_line,
    in_muscle,
)

RATES = ("0.125", "0.25", "0.5", "1", "2", "4")


def muscles(data: Path, config: Path) -> dict[int, tuple[PectoralLine | None, PreprocessRecord]]:
    """image id -> (its muscle's edge in the model's input, or None; its preprocessing)."""
    settings = load_config(config, []).data.preprocess
    found = {}
    for info in json.loads(data.read_text())["images"]:
        image, record = preprocess(read_image(data.parent / info["file_name"]), settings)
        line = find_pectoral_line(dequantise(quantise(image)))
        found[info["id"]] = (line if info.get("view") in MUSCLE_VIEWS else None, record)
    return found


def kept(results: list[dict], found: dict) -> list[dict]:
    """The detections whose box centre is not in their image's muscle."""
    out = []
    for entry in results:
        line, record = found[entry["image_id"]]
        x, y, w, h = entry["bbox"]
        box = record.boxes_to_model(np.array([[x, y, x + w, y + h]], dtype=np.float64))
        if not in_muscle(torch.from_numpy(box), line)[0]:
            out.append(entry)
    return out


def sensitivities(data: Path, results: Path, out: Path) -> list[float]:
    """`mammorcnn evaluate --results` of a results file: sensitivity at 0.125-4 FP/image."""
    command = ["mammorcnn", "evaluate", "--data", str(data), "--results", str(results)]
    command += ["--out", str(out), "--no-html", "--bootstrap", "200"]
    subprocess.run(command, check=True, capture_output=True)
    froc = json.loads((out / "report.json").read_text())["froc"]
    return [float(s) for s in froc["sensitivities"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the runs' COCO file")
    parser.add_argument("--config", type=Path, required=True, help="whose preprocessing to use")
    parser.add_argument("--out", type=Path, required=True, help="folder for the rescored runs")
    parser.add_argument("results", type=Path, nargs="+", help="pooled results.json files")
    args = parser.parse_args()
    found = muscles(args.data, args.config)
    with_line = sum(line is not None for line, _ in found.values())
    print(f"{with_line} of {len(found)} images with a muscle found")
    print("| run | as kept, 0.125-4 FP/image | muscle dropped | at 1 FP/image |")
    print("|---|---|---|---|")
    for path in args.results:
        name = path.parent.parent.name
        results = json.loads(path.read_text())
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(kept(results, found)))
        before = sensitivities(args.data, path, folder / "as_kept")
        after = sensitivities(args.data, folder / "results.json", folder / "pectoral")
        curve = lambda values: "/".join(f"{v:.3f}" for v in values)  # noqa: E731
        change = after[RATES.index("1")] - before[RATES.index("1")]
        print(f"| `{name}` | {curve(before)} | {curve(after)} | {change:+.3f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
