"""Where the inference time goes: median seconds per stage, ours and torchvision interleaved.

    .venv/bin/python benchmarks/profile_stages.py --size 1024 --runs 3 --variants ours,tv

Stages: normalise (+ resize for torchvision), backbone + FPN, RPN head convs, RPN proposal
selection (anchors, decoding, top-k, NMS), box branch (RoI Align + FC head + post-processing
NMS), mask branch (RoI Align + 4 convs + predictor), paste (masks into the image). Variant names
as in ``_models.py`` (e.g. ``ours+fast+p300``). Run by hand, never as a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, phantom_sample  # noqa: E402
from _models import make_variant  # noqa: E402

STAGES = ("normalise", "backbone+fpn", "rpn head", "rpn select", "box branch", "mask branch",
          "paste")  # fmt: skip


class Replay(torch.nn.Module):
    """Stands in for a head whose outputs were already computed (and timed)."""

    def __init__(self, outputs: object) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, _features: object) -> object:
        return self.outputs


def seconds(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def gflops(fn: Callable[[], object]) -> tuple[object, float]:
    """FLOPs of the matrix products and convolutions (torch's FlopCounterMode), in G.

    Deterministic, so it says where the work is even when the shared machine's timings
    wander; it does not count RoI Align, NMS or element-wise work.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = fn()
    return out, counter.get_total_flops() / 1e9


def staged_forward(
    model: torch.nn.Module,
    images: list[torch.Tensor],
    measure: Callable[[Callable[[], object]], tuple[object, float]] = seconds,
) -> dict[str, float]:
    """One eval forward of a torchvision-style Mask R-CNN, stage by stage (same maths)."""
    values: dict[str, float] = defaultdict(float)

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        out, value = measure(fn)
        values[name] += value
        return out

    sizes = [tuple(im.shape[-2:]) for im in images]
    batch, _ = timed("normalise", lambda: model.transform(images))
    tensor = batch.tensors
    if next(model.backbone.parameters()).is_contiguous(memory_format=torch.channels_last):
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    features = timed("backbone+fpn", lambda: model.backbone(tensor))
    rpn, feats = model.rpn, list(features.values())
    head = timed("rpn head", lambda: rpn.head(feats))
    original_head = rpn.head
    rpn.head = Replay(head)  # the RPN's own code, fed the timed head outputs
    try:
        proposals, _ = timed("rpn select", lambda: rpn(batch, features))
    finally:
        rpn.head = original_head
    heads = model.roi_heads
    box_features = timed(
        "box branch",
        lambda: heads.box_head(heads.box_roi_pool(features, proposals, batch.image_sizes)),
    )

    def detections():  # noqa: ANN202
        logits, deltas = heads.box_predictor(box_features)
        if logits.shape[1] != deltas.shape[1] // 4:  # ours: 4C deltas, no background
            from mammorcnn.model.box_head import with_background_deltas

            deltas = with_background_deltas(deltas)
        return heads.postprocess_detections(logits, deltas, proposals, batch.image_sizes)[0]

    boxes = timed("box branch", detections)
    masks = timed(
        "mask branch",
        lambda: heads.mask_predictor(
            heads.mask_head(heads.mask_roi_pool(features, boxes, batch.image_sizes))
        ),
    )
    probs = masks[:, :1].sigmoid()
    result = [{"boxes": boxes[0], "masks": probs}]
    timed("paste", lambda: model.transform.postprocess(result, batch.image_sizes, sizes))
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default="ours,tv")
    p.add_argument("--flops", action="store_true", help="count GFLOPs per stage instead")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    image, _ = phantom_sample(args.size)
    names = args.variants.split(",")
    variants = {}
    for n in names:  # the same untrained weights for every variant (bench_model's seed)
        torch.manual_seed(0)
        variants[n] = make_variant(n, [image], torch.device("cpu"), amp=False)
    inputs = {n: [image] if n.startswith("ours") else [image.expand(3, -1, -1)] for n in names}
    rounds: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    measure, unit = (gflops, "GFLOP") if args.flops else (seconds, "s")
    runs = 0 if args.flops else args.runs
    print(f"# {args.size}x{args.size}; {machine_line(args.threads)}; {unit}", flush=True)
    for r in range(runs + 1):  # timing: the first round warms up and is dropped
        for n in names[r % len(names) :] + names[: r % len(names)]:
            with torch.inference_mode():
                values = staged_forward(variants[n].model, inputs[n], measure)
            rounds[n].append(values)
            print(f"  round {r}: {n} {sum(values.values()):.2f} {unit}", flush=True)
    keep = slice(0, 1) if args.flops else slice(1, None)
    print(f"\n| stage ({unit}) | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for stage in (*STAGES, "total"):
        cells = []
        for n in names:
            kept = rounds[n][keep]
            per_round = [sum(v.values()) if stage == "total" else v[stage] for v in kept]
            cells.append(f"{statistics.median(per_round):.2f}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
