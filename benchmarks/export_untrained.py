"""Export the untrained default model (as bench_model builds it) to ONNX, to time onnxruntime.

    .venv/bin/python benchmarks/export_untrained.py /tmp/ours1024.onnx --size 1024 --proposals 300
    .venv/bin/python benchmarks/bench_model.py --onnx /tmp/ours1024.onnx ...

Same graph as ``mammorcnn export`` writes from a trained weights file (BN folded), without
needing one: timings do not depend on the weights' values, only on the detection counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--proposals", type=int, help="post-NMS proposals at test time")
    args = p.parse_args(argv)
    from mammorcnn.engine.export import InferenceGraph, example_input, export_graph
    from mammorcnn.model import build_model
    from mammorcnn.model.speed import optimize_for_inference

    torch.manual_seed(0)  # bench_model's seed: the same untrained weights
    model = optimize_for_inference(build_model(), test_proposals=args.proposals, copy=False)
    start = time.perf_counter()
    export_graph(InferenceGraph(model), example_input(args.size), args.out, "onnx")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
