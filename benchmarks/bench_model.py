"""Our Mask R-CNN against torchvision's maskrcnn_resnet50_fpn on the same input, interleaved.

    .venv/bin/python benchmarks/bench_model.py --size 1024 --runs 3 --threads 2
    .venv/bin/python benchmarks/bench_model.py --quick               # 256 px, a smoke run
    .venv/bin/python benchmarks/bench_model.py --variants ours,ours+im,ours+im+fold,tv --no-train
    .venv/bin/python benchmarks/bench_model.py --device cuda --batch 8 --runs 20   # AMP on a GPU

Prints a Markdown table (median and min-max of the runs, ratio to torchvision, parameters,
peak memory, images/s). Run by hand: never as a timed test. Variant names: see ``_models.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Stats,
    count_parameters,
    interleaved,
    machine_line,
    measure_in_child,
    peak_rss_mib,
    phantom_sample,
)
from _models import make_train_variant, make_variant  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=1024, help="image side S (input SxS)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per variant")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per variant first")
    p.add_argument("--threads", type=int, default=2, help="torch (and onnxruntime) threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda: float16 autocast)")
    p.add_argument("--batch", type=int, default=1, help="images per call (throughput on GPU)")
    p.add_argument("--quick", action="store_true", help="256 px and 2 runs: a smoke run")
    p.add_argument("--variants", default="ours,ours+bb,tv", help="inference variants, comma list")
    p.add_argument("--train-variants", default="ours,tv", help="training-step variants")
    p.add_argument("--no-train", action="store_true", help="skip the training step")
    p.add_argument("--no-infer", action="store_true", help="skip inference")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument("--onnx", type=Path, help="also time this exported ONNX graph (onnxruntime)")
    p.add_argument("--json", type=Path, help="write the raw results here")
    p.add_argument("--_memory_child", help=argparse.SUPPRESS)
    p.add_argument("--_phase", default="infer", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.runs = 256, 2
    return args


def setup(args: argparse.Namespace) -> tuple[torch.device, bool, list, list]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    amp = device.type == "cuda"
    if amp:
        torch.backends.cudnn.benchmark = True
    samples = [phantom_sample(args.size, seed) for seed in range(args.batch)]
    images = [im.to(device) for im, _ in samples]
    targets = [{k: v.to(device) for k, v in t.items()} for _, t in samples]
    return device, amp, images, targets


def sync_for(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def memory_child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process; prints a JSON line (see ``_common``)."""
    device, amp, images, targets = setup(args)
    if args._phase == "train":
        variant = make_train_variant(args._memory_child, images, targets, device, amp)
        call = variant.train_step
    else:
        variant = make_variant(args._memory_child, images, device, amp)
        call = variant.infer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        call()
        call()
        torch.cuda.synchronize()
        result = {"peak_mib": torch.cuda.max_memory_allocated() / 2**20, "exact": True}
    else:
        result = peak_rss_mib(call)
    print(json.dumps(result))


def memory(args: argparse.Namespace, name: str, phase: str) -> dict:
    passthrough = ["--size", str(args.size), "--threads", str(args.threads)]
    passthrough += ["--device", args.device, "--batch", str(args.batch)]
    return measure_in_child(__file__, [*passthrough, "--_memory_child", name, "--_phase", phase])


def onnx_task(path: Path, image: torch.Tensor, threads: int):
    """A call of the exported graph with onnxruntime on the CPU, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: image.cpu()[None].numpy()}
    return lambda: session.run(None, feed)


def table(title: str, rows: dict[str, dict], ref: str, batch: int) -> str:
    lines = [
        f"### {title}",
        "",
        "| variant | median s | min-max s | ratio to tv | CPU s | CPU ratio | images/s "
        "| params (M) | peak MiB | peak - before MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref_median = rows[ref]["stats"].median if ref in rows else float("nan")
    ref_cpu = rows[ref]["stats"].cpu_median if ref in rows else float("nan")
    for name, row in rows.items():
        st: Stats = row["stats"]
        mem = row.get("memory") or {}
        peak = f"{mem['peak_mib']:.0f}" if mem else "-"
        delta = f"{mem['peak_mib'] - mem['rss_before_mib']:.0f}" if "rss_before_mib" in mem else "-"
        params = f"{row['params'] / 1e6:.1f}" if row.get("params") else "-"
        lines.append(
            f"| {name} | {st.median:.2f} | {st.spread()} | {st.median / ref_median:.2f} | "
            f"{st.cpu_median:.2f} | {st.cpu_median / ref_cpu:.2f} | "
            f"{batch / st.median:.2f} | {params} | {peak} | {delta} |"
        )
    return "\n".join(lines)


def run_phase(args, phase: str, names: list[str], device, amp, images, targets) -> dict:
    """Build every variant of one phase, time them interleaved, then measure their memory."""
    print(f"{phase}: building {', '.join(names)}", flush=True)
    variants = {}
    for name in names:
        if name == "onnx":
            variants[name] = (onnx_task(args.onnx, images[0], args.threads), None)
        elif phase == "train":
            v = make_train_variant(name, images, targets, device, amp)
            variants[name] = (v.train_step, v.model)
        else:
            v = make_variant(name, images, device, amp)
            variants[name] = (v.infer, v.model)
    tasks = {name: task for name, (task, _) in variants.items()}
    stats = interleaved(tasks, args.runs, args.warmup, sync_for(device))
    rows = {
        name: {"stats": stats[name], "params": count_parameters(m) if m is not None else None}
        for name, (_, m) in variants.items()
    }
    del variants, tasks
    gc.collect()
    if not args.no_memory:
        for name in names:
            if name != "onnx":
                rows[name]["memory"] = memory(args, name, phase)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._memory_child:
        memory_child(args)
        return 0
    device, amp, images, targets = setup(args)
    print(f"# {args.size}x{args.size}, batch {args.batch}, {args.device}, amp={amp}")
    print(f"# {machine_line(args.threads)}", flush=True)
    results: dict[str, dict] = {}
    if not args.no_infer:
        names = [n for n in args.variants.split(",") if n]
        if args.onnx is not None:
            names.append("onnx")
        results["inference"] = run_phase(args, "inference", names, device, amp, images, targets)
    if not args.no_train:
        names = [n for n in args.train_variants.split(",") if n]
        results["training step"] = run_phase(args, "train", names, device, amp, images, targets)
    print()
    for title, rows in results.items():
        print(table(f"{title}, {args.size}x{args.size}", rows, "tv", args.batch), "\n")
    if args.json is not None:
        raw = {
            title: {
                name: {
                    **{k: v for k, v in row.items() if k != "stats"},
                    "times": row["stats"].times,
                }
                for name, row in rows.items()
            }
            for title, rows in results.items()
        }
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json), "onnx": str(args.onnx)}, **raw},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
