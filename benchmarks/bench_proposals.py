"""What cutting the test-time proposal count costs in recall, on synthetic mammograms.

    .venv/bin/python benchmarks/bench_proposals.py --size 256 --steps 300 --counts 1000,300,100,50

Proposal recall only means something for a trained RPN, and training the full model is out of
reach on a CPU, so this trains the tiny configuration (same architecture: 15 anchors per
location on P2..P6, 2-class RPN, one-FC head) on phantoms (``make_phantom``, 1-2 masses of 5-20 %
of the side) for ``--steps`` steps, with the specification's test-time proposal counts
(1000 per level before NMS, 1000 per image after), then evaluates held-out phantoms with the
post-NMS count set to each of ``--counts``:

- proposal recall: fraction of ground-truth masses with a proposal at IoU >= 0.5 / 0.7;
- detection sensitivity and false positives per image at score >= 0.5 (IoU >= 0.5);
- how many of the N=first-count detections (score >= 0.05) are still there (box within 1 px).

``--bf16`` adds the same rows for ``optimize_for_inference(model, bf16=True)``.

Run by hand; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import phantom_sample  # noqa: E402


def train_tiny(size: int, steps: int, images: int, seed: int) -> torch.nn.Module:
    from mammorcnn.model import build_model, tiny_config

    torch.manual_seed(seed)
    config = tiny_config()
    config.rpn.pre_nms_top_n_test = config.rpn.post_nms_top_n_test = 1000  # the spec's
    model = build_model(config).train()
    data = [phantom_sample(size, seed=1000 + i) for i in range(images)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    start = time.perf_counter()
    for step in range(steps):
        batch = [data[(2 * step + i) % images] for i in range(2)]
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        if step % 50 == 0:
            total = sum(v.item() for v in losses.values())
            print(f"  step {step}: loss {total:.3f} ({time.perf_counter() - start:.0f} s)")
    return model.eval()


def evaluate(model: torch.nn.Module, samples: list, count: int) -> dict:
    model.set_test_proposals(count)
    found5 = found7 = hits = fps = total = 0
    detections = []
    for image, target in samples:
        with torch.no_grad():
            batch, _ = model.transform([image])
            features = model.backbone(batch.tensors)
            proposals, _ = model.rpn(batch, features)
            (out,) = model([image])
        gt = target["boxes"]
        total += len(gt)
        if len(gt):
            best = box_iou(gt, proposals[0]).max(dim=1).values
            found5 += int((best >= 0.5).sum())
            found7 += int((best >= 0.7).sum())
        confident = out["boxes"][out["scores"] >= 0.5]
        if len(gt) and len(confident):
            iou = box_iou(confident, gt)
            hits += int((iou.max(dim=0).values >= 0.5).sum())
            fps += int((iou.max(dim=1).values < 0.5).sum())
        else:
            fps += len(confident)
        detections.append(out["boxes"])
    n = len(samples)
    return {
        "recall50": found5 / total,
        "recall70": found7 / total,
        "sensitivity": hits / total,
        "fp_per_image": fps / n,
        "boxes": detections,
    }


def kept(reference: list[torch.Tensor], boxes: list[torch.Tensor]) -> float:
    """Fraction of the reference detections that have a box within 1 px in ``boxes``."""
    same = total = 0
    for ref, got in zip(reference, boxes):
        total += len(ref)
        if len(ref) and len(got):
            diff = (ref[:, None, :] - got[None, :, :]).abs().amax(dim=2)
            same += int((diff.min(dim=1).values < 1.0).sum())
    return same / max(total, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--train-images", type=int, default=32)
    p.add_argument("--test-images", type=int, default=30)
    p.add_argument("--counts", default="1000,300,100,50")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="also evaluate under bfloat16 autocast")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = train_tiny(args.size, args.steps, args.train_images, seed=0)
    samples = [phantom_sample(args.size, seed=5000 + i) for i in range(args.test_images)]
    counts = [int(c) for c in args.counts.split(",")]
    results = {str(c): evaluate(model, samples, c) for c in counts}
    if args.bf16:
        from mammorcnn.model.speed import optimize_for_inference

        fast = optimize_for_inference(model, bf16=True)
        results |= {f"{c} bf16": evaluate(fast, samples, c) for c in counts}
    reference = results[str(counts[0])]["boxes"]
    print(
        "\n| post-NMS proposals | proposal recall IoU>=0.5 | IoU>=0.7 | sensitivity@0.5 "
        f"| FP/image@0.5 | detections kept vs {counts[0]} |\n|---|---|---|---|---|---|"
    )
    for c, r in results.items():
        print(
            f"| {c} | {r['recall50']:.3f} | {r['recall70']:.3f} | {r['sensitivity']:.3f} | "
            f"{r['fp_per_image']:.2f} | {kept(reference, r['boxes']):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
