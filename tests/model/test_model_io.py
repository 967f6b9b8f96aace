"""The docs/interfaces.md contract: inputs, normalisation, padding without resizing, outputs."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.model import build_model, tiny_config

LOSS_KEYS = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}


def _target(h: int, w: int, n: int = 1) -> dict[str, torch.Tensor]:
    masks = torch.zeros(n, h, w, dtype=torch.uint8)
    boxes = []
    for i in range(n):
        x, y = 5 + 20 * i, 8 + 10 * i
        masks[i, y : y + 20, x : x + 15] = 1
        boxes.append([x, y, x + 15, y + 20])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(n, 4),
        "labels": torch.ones(n, dtype=torch.int64),
        "masks": masks,
    }


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_config())


def test_training_returns_the_five_named_losses(model) -> None:
    model.train()
    images = [torch.rand(1, 80, 100), torch.rand(1, 64, 64)]
    losses = model(images, [_target(80, 100, 2), _target(64, 64)])
    assert set(losses) == LOSS_KEYS
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


def test_images_without_objects_train(model) -> None:
    model.train()
    losses = model([torch.rand(1, 64, 64)], [_target(64, 64, 0)])
    assert set(losses) == LOSS_KEYS
    assert losses["loss_mask"].item() == 0.0 and losses["loss_rpn_box_reg"].item() == 0.0
    sum(losses.values()).backward()


def test_eval_outputs_masks_in_input_coordinates(model) -> None:
    model.eval()
    with torch.no_grad():
        outs = model([torch.rand(1, 70, 90), torch.rand(1, 64, 64)])
    for out, (h, w) in zip(outs, [(70, 90), (64, 64)]):
        k = out["boxes"].shape[0]
        assert (
            out["boxes"].shape == (k, 4)
            and out["labels"].shape == (k,)
            and out["scores"].shape == (k,)
        )
        assert out["masks"].shape == (k, 1, h, w) and out["masks"].dtype == torch.float32
        assert out["masks"].min() >= 0 and out["masks"].max() <= 1
        assert (out["labels"] == 1).all()
        assert (out["boxes"][:, 2] <= w).all() and (out["boxes"][:, 3] <= h).all()


def test_normalises_and_pads_to_32_without_resizing(model) -> None:
    model.eval()
    seen = {}
    hook = model.backbone.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    image = torch.rand(1, 70, 90)
    with torch.no_grad():
        model([image])
    hook.remove()
    x = seen["x"]
    assert x.shape == (1, 1, 96, 96)
    cfg = model.config
    torch.testing.assert_close(x[0, :, :70, :90], (image - cfg.image_mean) / cfg.image_std)
    assert (x[0, :, 70:, :] == 0).all() and (x[0, :, :, 90:] == 0).all()


def test_training_without_targets_is_an_error(model) -> None:
    model.train()
    with pytest.raises(ValueError):
        model([torch.rand(1, 64, 64)])


def test_no_detections_give_empty_tensors_of_the_right_shape() -> None:
    cfg = tiny_config()
    cfg.box_head.score_thresh = 1.0  # nothing passes
    model = build_model(cfg).eval()
    with torch.no_grad():
        outs = model([torch.rand(1, 64, 64), torch.rand(1, 32, 48)])
    assert outs[0]["masks"].shape == (0, 1, 64, 64) and outs[1]["masks"].shape == (0, 1, 32, 48)
    assert outs[0]["boxes"].shape == (0, 4) and outs[0]["scores"].shape == (0,)
