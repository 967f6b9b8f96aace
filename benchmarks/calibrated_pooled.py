"""A finished cross-validation's pooled detections, rescored with each fold's score calibration.

Why: score calibration (docs/evaluation.md) changes no single model's FROC, only how the folds'
scores compare; this measures that on a kept run without running the test folds again. Each
fold's kept weights are copied and calibrated on the fold's training file (what `mammorcnn
calibrate` and `train.score_calibration` do), and the pooled detections are mapped through
their fold's calibration. Then score it as any results file:

    python benchmarks/calibrated_pooled.py CV_DIR OUT_DIR [--device cpu]
    mammorcnn evaluate --results OUT_DIR/pooled_results.json --data ALL.json --category mass --out OUT_DIR/pooled
    mammorcnn compare CV_DIR/pooled OUT_DIR/pooled

OUT_DIR keeps each fold's calibration (foldK.json); a rerun reuses them.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from mammorcnn.engine.calibrate import calibrate_weights
from mammorcnn.engine.inference.dataset_run import DatasetRunOptions
from mammorcnn.engine.inference.score_calibration import ScoreCalibration


def fold_calibration(cv_dir: Path, out: Path, k: int, device: str) -> ScoreCalibration:
    mark = out / f"fold{k}.json"
    if not mark.exists():
        weights = out / f"fold{k}.safetensors"
        shutil.copy(cv_dir / f"fold{k}/run/checkpoints/best.safetensors", weights)
        train = cv_dir / f"folds/fold{k}_train.json"
        calibration = calibrate_weights(weights, train, DatasetRunOptions(device=device), False)
        mark.write_text(json.dumps(calibration.to_metadata()))
        weights.unlink()
    return ScoreCalibration.from_metadata(json.loads(mark.read_text()), mark)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tests = sorted((args.cv_dir / "folds").glob("fold[0-9]*_test.json"))
    fold_of, names = {}, {}
    for path in tests:
        data = json.loads(path.read_text())
        k = int(path.name[len("fold") : -len("_test.json")])
        fold_of.update({image["id"]: k for image in data["images"]})
        names.update({c["id"]: c["name"] for c in data["categories"]})
    calibrations = {
        k: fold_calibration(args.cv_dir, args.out, k, args.device) for k in set(fold_of.values())
    }
    rescored = []
    for entry in json.loads((args.cv_dir / "pooled/results.json").read_text()):
        calibration = calibrations[fold_of[entry["image_id"]]].classes[names[entry["category_id"]]]
        rate = float(calibration.rate(np.array([entry["score"]]))[0])
        rescored.append({**entry, "score": round(1.0 / (1.0 + rate), 5)})
    (args.out / "pooled_results.json").write_text(json.dumps(rescored))
    print(f"{len(rescored)} detections rescored: {args.out / 'pooled_results.json'}")


if __name__ == "__main__":
    main()
