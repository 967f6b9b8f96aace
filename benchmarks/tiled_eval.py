"""Experiment: `mammorcnn evaluate` with tiled inference instead of whole images.

The mini-MIAS recipe trains on 256-px crops and predicts on whole 512-px images. GroupNorm
normalises each image by its own statistics, and a whole image (with its black background
and all its tissue) has other statistics than a crop centred on the breast, so whole-image
inference shows the network features normalised unlike any it trained on. This script runs
the model instead on TILE-px tiles every STRIDE px (the crops' size), keeps from each tile the
detections whose box centre lies in its own central part (the tile's half-overlap margin
removed, except at the image's edges), merges them with the model's NMS
(model.box_head.nms_thresh) and the nested rule, and scores them exactly as `mammorcnn
evaluate` does (test-time flips, if the checkpoint asks for them, are applied on every tile).
Results: docs/results.md, "Tiled inference".

    python benchmarks/tiled_eval.py 256 128 -- evaluate --weights RUN --data TEST.json --out DIR

It replaces Predictor._forward for this process only; it is an experiment, not a feature.
"""

from __future__ import annotations

import sys

import torch
from torchvision.ops import batched_nms

from mammorcnn.engine.inference import predictor
from mammorcnn.model.nested import not_nested

whole_image_forward = predictor.Predictor._forward


def tile_offsets(size: int, tile: int, stride: int) -> list[int]:
    """Top-left offsets along one side: every ``stride`` px, the last flush with the edge."""
    if size <= tile:
        return [0]
    return sorted({*range(0, size - tile, stride), size - tile})


def owned(boxes: torch.Tensor, x0: int, y0: int, tile: int, margin: int, height: int, width: int):
    """Which tile detections (image coordinates) have their centre in the tile's own part."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    lo_x = x0 + margin if x0 > 0 else -float("inf")
    hi_x = x0 + tile - margin if x0 + tile < width else float("inf")
    lo_y = y0 + margin if y0 > 0 else -float("inf")
    hi_y = y0 + tile - margin if y0 + tile < height else float("inf")
    return (cx >= lo_x) & (cx < hi_x) & (cy >= lo_y) & (cy < hi_y)


def tiled_forward(tile: int, stride: int):
    """A replacement for Predictor._forward that runs the whole-image path on each tile."""
    margin = (tile - stride) // 2

    def forward(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict]:
        box_head = self.loaded.model_config.box_head
        results = []
        for image in images:
            height, width = image.shape[-2:]
            parts = []
            for y0 in tile_offsets(height, tile, stride):
                for x0 in tile_offsets(width, tile, stride):
                    crop = image[:, y0 : y0 + tile, x0 : x0 + tile]
                    (out,) = whole_image_forward(self, model, [crop])
                    boxes = out["boxes"].clone()
                    boxes[:, [0, 2]] += x0
                    boxes[:, [1, 3]] += y0
                    keep = owned(boxes, x0, y0, tile, margin, height, width)
                    masks = out["masks"][keep]
                    canvas = torch.zeros(masks.shape[0], 1, height, width, dtype=masks.dtype)
                    canvas[:, :, y0 : y0 + masks.shape[-2], x0 : x0 + masks.shape[-1]] = masks
                    parts.append(
                        {
                            "boxes": boxes[keep],
                            "scores": out["scores"][keep],
                            "labels": out["labels"][keep],
                            "masks": canvas,
                        }
                    )
            merged = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
            keep = batched_nms(
                merged["boxes"], merged["scores"], merged["labels"], box_head.nms_thresh
            )
            merged = {key: value[keep] for key, value in merged.items()}
            if box_head.nested_thresh is not None:
                keep = not_nested(
                    merged["boxes"], merged["scores"], merged["labels"], box_head.nested_thresh
                )
                merged = {key: value[keep] for key, value in merged.items()}
            results.append({k: v[: box_head.detections_per_img] for k, v in merged.items()})
        return results

    return forward


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[3] != "--":
        print(__doc__)
        return 2
    tile, stride = int(sys.argv[1]), int(sys.argv[2])
    predictor.Predictor._forward = tiled_forward(tile, stride)
    from mammorcnn.cli.main import main as cli_main

    return cli_main(sys.argv[4:])


if __name__ == "__main__":
    sys.exit(main())
