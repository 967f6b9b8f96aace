"""predict/evaluate load the model with the inference rewrites of docs/performance.md: the
detections must not change (BN folding, channels_last), and --proposals must take effect."""

from __future__ import annotations

from pathlib import Path

import torch

from mammorcnn.engine.inference import load_trained_model

from .conftest import IMAGE_SIZE, make_checkpoint


def _image() -> torch.Tensor:
    torch.manual_seed(1)
    image = torch.rand(1, IMAGE_SIZE, IMAGE_SIZE) * 0.2
    image[:, 40:70, 30:60] += 0.7  # a bright blob so the untrained model has something to rank
    return image


def test_fast_loading_gives_the_same_detections(tmp_path: Path):
    weights = make_checkpoint(tmp_path / "w.safetensors")
    plain = load_trained_model(weights, "cpu").model
    fast = load_trained_model(weights, "cpu", fast=True).model
    with torch.inference_mode():
        (a,), (b,) = plain([_image()]), fast([_image()])
    assert len(a["boxes"]) > 0 and len(a["boxes"]) == len(b["boxes"])
    torch.testing.assert_close(b["boxes"], a["boxes"], atol=1e-2, rtol=0)
    torch.testing.assert_close(b["scores"], a["scores"], atol=1e-4, rtol=0)
    torch.testing.assert_close(b["masks"], a["masks"], atol=1e-3, rtol=0)


def test_proposals_option_limits_the_rpn_output(tmp_path: Path, cli):
    weights = make_checkpoint(tmp_path / "w.safetensors")
    few = load_trained_model(weights, "cpu", fast=True, proposals=3).model
    with torch.inference_mode():
        (out,) = few([_image()])
    assert len(out["boxes"]) <= 3  # one class: at most one detection per proposal
    result = cli("predict", "--weights", weights, tmp_path, "--out", tmp_path / "o",
                 "--proposals", "0")  # fmt: skip
    assert result.code == 2 and "must be at least 1" in result.err


def test_score_threshold_skips_masks_of_dropped_detections_only(tmp_path: Path):
    """The predictor lets the model drop detections below its threshold before the mask head:
    the kept detections are exactly those of the unfiltered model at or above it."""
    import numpy as np
    from PIL import Image

    from mammorcnn.engine.inference import Predictor

    weights = make_checkpoint(tmp_path / "w.safetensors")
    loaded = load_trained_model(weights, "cpu", fast=True)
    path = tmp_path / "blob.png"
    Image.fromarray((_image()[0].numpy() * 255).astype(np.uint8)).save(path)
    item = Predictor(loaded, score_threshold=0.0).prepare_file(path)
    rows: list[int] = []
    loaded.model.roi_heads.mask_head.register_forward_hook(
        lambda _m, args, _out: rows.append(args[0].shape[0])
    )
    (everything,) = Predictor(loaded, score_threshold=0.0).run([item])
    scores = everything["scores"]
    assert len(scores) >= 4 and rows == [len(scores)]
    threshold = scores[len(scores) // 2].item()  # exactly one detection's score: kept (>=)
    (kept,) = Predictor(loaded, score_threshold=threshold).run([item])
    expected = scores >= threshold
    assert 0 < expected.sum() < len(scores)
    assert rows[1] == int(expected.sum())  # the mask head saw only the kept detections
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(kept[key], everything[key][expected], atol=0, rtol=0)
    assert loaded.model.roi_heads.score_thresh == 0.05  # restored for the next caller


def test_bf16_hint_only_where_the_command_has_bf16(tmp_path: Path, monkeypatch, caplog):
    """On a CPU with native bfloat16 the --bf16 hint is logged for predict/evaluate's loading,
    not for export's (nor the demo's), which have no --bf16."""
    import mammorcnn.model.speed as speed
    from mammorcnn.engine.export.loading import load_model_for_export

    weights = make_checkpoint(tmp_path / "w.safetensors")
    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: True)
    with caplog.at_level("INFO", logger="mammorcnn.inference"):
        load_trained_model(weights, "cpu", fast=True)
        hinted = [r.getMessage() for r in caplog.records if "--bf16" in r.getMessage()]
        caplog.clear()
        load_model_for_export(weights)
        export_lines = [r.getMessage() for r in caplog.records]
    assert len(hinted) == 1 and "computes bfloat16 natively" in hinted[0]
    assert export_lines and not any("--bf16" in line for line in export_lines)
