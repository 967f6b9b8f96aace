"""The inference graph that ``mammorcnn export`` writes: one fixed-size image in, detections out.

What the graph contains: normalisation, backbone + FPN, the RPN with its proposal selection
(top-k per level, NMS, top-N), RoI Align, the box head with the per-class NMS post-processing,
and the mask head. What stays outside: reading and preprocessing the mammogram (the data
pipeline, ``PreprocessRecord``) and pasting the 14x14 mask probabilities into the image
(``mammorcnn.model.mask_paste.paste_masks``). Pasting inside the graph would make its output
K x S x S floats (400 MB for 100 detections at 1024 px) for masks that are mostly empty;
outside, a deployment pastes only the detections it keeps.

The graph is traced, so its input size is fixed (the size it was exported at), and its batch
is one image.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Names of the graph's inputs and outputs (ONNX names, TorchScript tuple order).
INPUT_NAMES = ("image",)
OUTPUT_NAMES = ("boxes", "labels", "scores", "mask_probs")


class InferenceGraph(nn.Module):
    """``image`` (1, C, S, S) float32 in [0, 1] (C = 2: the film, then the other breast) ->
    boxes (K, 4) x1y1x2y2 in pixels, labels (K,) int64 in 1..C, scores (K,), mask_probs
    (K, 1, m, m) sigmoid probabilities in each box."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m = self.model
        batch, _ = m.transform([image[0]])
        features = m.backbone(batch.tensors)
        proposals, _ = m.rpn(batch, features)
        detections, _ = m.roi_heads(features, proposals, batch.image_sizes)
        d = detections[0]
        return d["boxes"], d["labels"], d["scores"], d["masks"]


def example_input(size: int, seed: int = 0, channels: int = 1) -> Tensor:
    """A (1, C, S, S) synthetic mammogram to trace with: masses, so every branch is exercised
    (a second channel, the other breast, is another phantom)."""
    import numpy as np

    from mammorcnn.data.synthetic.phantom import make_phantom

    rng = np.random.default_rng(seed)
    films = [make_phantom(rng, size, n_masses=2)[0] for _ in range(channels)]
    return torch.from_numpy(np.stack(films).astype(np.float32) / 65535.0)[None]
