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


def staged_forward(model: torch.nn.Module, images: list[torch.Tensor], times: dict) -> None:
    """One eval forward of a torchvision-style Mask R-CNN, stage by stage (same maths)."""

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        out = fn()
        times[name].append(time.perf_counter() - start)
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
    start = time.perf_counter()
    logits, deltas = heads.box_predictor(box_features)
    if logits.shape[1] == deltas.shape[1] // 4:  # torchvision: 4(C+1) deltas
        full = deltas
    else:
        from mammorcnn.model.box_head import with_background_deltas

        full = with_background_deltas(deltas)
    boxes, _scores, _labels = heads.postprocess_detections(
        logits, full, proposals, batch.image_sizes
    )
    times["box branch"][-1] += time.perf_counter() - start
    masks = timed(
        "mask branch",
        lambda: heads.mask_predictor(
            heads.mask_head(heads.mask_roi_pool(features, boxes, batch.image_sizes))
        ),
    )
    probs = masks[:, :1].sigmoid()
    result = [{"boxes": boxes[0], "masks": probs}]
    timed("paste", lambda: model.transform.postprocess(result, batch.image_sizes, sizes))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default="ours,tv")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    image, _ = phantom_sample(args.size)
    names = args.variants.split(",")
    variants = {n: make_variant(n, [image], torch.device("cpu"), amp=False) for n in names}
    inputs = {n: [image] if n.startswith("ours") else [image.expand(3, -1, -1)] for n in names}
    times = {n: defaultdict(list) for n in names}
    print(f"# {args.size}x{args.size}; {machine_line(args.threads)}", flush=True)
    for r in range(args.runs + 1):  # the first round warms up and is dropped
        for n in names[r % len(names) :] + names[: r % len(names)]:
            with torch.inference_mode():
                staged_forward(variants[n].model, inputs[n], times[n])
            print(f"  round {r}: {n} {sum(v[-1] for v in times[n].values()):.2f} s", flush=True)
    print("\n| stage | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for stage in (*STAGES, "total"):
        cells = []
        for n in names:
            runs = list(zip(*times[n].values()))[1:]
            values = [sum(r) for r in runs] if stage == "total" else times[n][stage][1:]
            cells.append(f"{statistics.median(values):.2f}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
