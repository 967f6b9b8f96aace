"""Experiment: merge the kept detections of several evaluations of the same images as views.

`mammorcnn evaluate --ensemble` merges models while it runs them. This merges what
evaluations already wrote (their predictions.json, every detection kept down to a score of
about 0): per image, the files' detections are views merged by the flip merge (`merge_views`,
weighted box fusion: a finding's score is the sum of its members' scores over the number of
views), then the nested rule and the rank decay, as `evaluate` does with views it ran itself.
The kept scores carry each evaluation's own rank decay (its ``settings.rank_decay``), so it
is undone first (the k-th best of an image was multiplied by G**k, an order-keeping
factor). The fused finding keeps the mask of the kept detection its box overlaps most (the
files' RLE masks are not averaged). Typical use: a two-channel model evaluated with and
without the other breast (docs/results.md, "The other breast as a second channel"):

    python benchmarks/merge_kept_views.py A/predictions.json B/predictions.json \
        --rank-decay 0.7 --out merged.json
    mammorcnn evaluate --results merged.json --data TEST.json --out DIR

An experiment, not a feature: it reads mammorcnn's predictions.json format only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torchvision.ops import box_iou

from mammorcnn.engine.inference.flip_merge import merge_views
from mammorcnn.engine.inference.rank_decay import decay_by_rank
from mammorcnn.engine.outputs.results import coco_results
from mammorcnn.model.nested import not_nested


def undecayed(scores: torch.Tensor, labels: torch.Tensor, decay: float) -> torch.Tensor:
    """``scores`` before ``decay_by_rank(scores, labels, decay)``: decay keeps the order, so
    decaying them again multiplies each by the same factor ``decay ** rank`` it took."""
    factors = decay_by_rank(scores, labels, decay) / scores.clamp(min=1e-30)
    return torch.where(scores > 0, scores / factors.clamp(min=1e-30), scores)


def view_of(detections: list[dict], decay: float) -> dict[str, torch.Tensor]:
    """One image's kept detections as a model output (xyxy boxes), their decay undone."""
    boxes = torch.tensor([d["bbox"] for d in detections], dtype=torch.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    labels = torch.tensor([d["category_id"] for d in detections], dtype=torch.int64)
    scores = torch.tensor([d["score"] for d in detections], dtype=torch.float64)
    return {"boxes": boxes, "scores": undecayed(scores, labels, decay), "labels": labels}


def merge_files(data: list[dict], decay: float, nested: float) -> list[dict]:
    """The merged results of files that hold the same images (matched by file path)."""
    by_file = []
    for d in data:
        ids = {im["id"]: im["file"] for im in d["images"]}
        per: dict[str, list[dict]] = {f: [] for f in ids.values()}
        for r in d["results"]:
            per[ids[r["image_id"]]].append(r)
        by_file.append(per)
    first_ids = {im["file"]: im["id"] for im in data[0]["images"]}
    if any(set(per) != set(first_ids) for per in by_file):
        raise SystemExit("merge_kept_views: the files do not hold the same images")
    results = []
    for file, image_id in first_ids.items():
        members = [per[file] for per in by_file]
        flat = [d for m in members for d in m]
        views = [view_of(m, d["settings"].get("rank_decay", 1.0)) for m, d in zip(members, data)]
        merged = merge_views(views)
        keep = not_nested(merged["boxes"], merged["scores"], merged["labels"], nested)
        boxes, labels = merged["boxes"][keep], merged["labels"][keep]
        scores = decay_by_rank(merged["scores"][keep], labels, decay)
        entries = coco_results(image_id, {"boxes": boxes, "scores": scores, "labels": labels})
        # each finding's mask: that of the kept detection its fused box overlaps most
        overlap = box_iou(boxes, torch.cat([v["boxes"] for v in views]))
        for k, entry in enumerate(entries):
            leader = flat[int(overlap[k].argmax())]
            if "segmentation" in leader:
                entry["segmentation"] = leader["segmentation"]
        results += entries
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", nargs="+", type=Path, help="predictions.json files")
    parser.add_argument("--out", type=Path, required=True, help="merged predictions.json")
    parser.add_argument("--rank-decay", type=float, default=1.0, help="applied after merging")
    parser.add_argument("--nested", type=float, default=0.5, help="nested rule threshold")
    args = parser.parse_args()
    data = [json.loads(p.read_text()) for p in args.predictions]
    out = dict(data[0])
    out["results"] = merge_files(data, args.rank_decay, args.nested)
    out["settings"] = {**data[0]["settings"], "rank_decay": args.rank_decay}
    out["merged_from"] = [str(p) for p in args.predictions]
    args.out.write_text(json.dumps(out))
    print(f"{len(out['results'])} detections on {len(data[0]['images'])} images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
