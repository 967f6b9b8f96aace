"""`mammorcnn export`: the ONNX and TorchScript graphs give the eager model's detections.

A tiny model (ResNet-18 FPN, 64 channels) with random weights, exported at 128 px from a
weights file as `train` writes it, then run (onnxruntime / torch.jit.load) on a phantom that
differs from the one the graph was traced with: boxes within 1 px, same labels, scores within
1e-3 and pasted masks (threshold 0.5) with IoU > 0.98 against the eager model's outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mammorcnn.cli.main import main
from mammorcnn.config import config_to_dict
from mammorcnn.data.preprocess import PreprocessConfig
from mammorcnn.engine.checkpoint import save_weights
from mammorcnn.engine.export import example_input
from mammorcnn.model import build_model, tiny_config
from mammorcnn.model.mask_paste import paste_masks

SIZE = 128
# torch 2.14 deprecates torch.jit (save/load warn); the TorchScript format still works
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A weights file of a tiny model and the eager model itself (eval)."""
    return _tiny_weights(tmp_path_factory, nested_thresh=None)


@pytest.fixture(scope="module")
def trained_nested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """The same with nested detections dropped (model/nested.py), whose tensor operations
    must export too: of the untrained model's nine nested boxes one or two are left."""
    return _tiny_weights(tmp_path_factory, nested_thresh=0.5)


@pytest.fixture(scope="module")
def trained_two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A model that reads the other breast as a second channel: a (1, 2, S, S) graph."""
    return _tiny_weights(tmp_path_factory, nested_thresh=None, channels=2)


def _tiny_weights(
    tmp_path_factory: pytest.TempPathFactory, nested_thresh: float | None, channels: int = 1
) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    config = tiny_config()
    config.box_head.nested_thresh = nested_thresh
    config.backbone.in_channels = channels
    model = build_model(config).eval()
    # Spread the class scores so that detections are not near-ties of 0.5 (an untrained head):
    # a tie broken differently by two runtimes would reorder, not change, the detections.
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.mul_(30.0)
    for module in model.modules():  # non-trivial BN statistics, so folding them is tested
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.8, 1.2)
    path = tmp_path_factory.mktemp("weights") / f"tiny-{nested_thresh}-{channels}.safetensors"
    preprocess = PreprocessConfig(image_size=SIZE, other_breast=channels == 2)
    metadata = {
        "model_config": config_to_dict(config),
        "preprocess": preprocess.to_dict(),
        "class_names": ["mass"],
        "category_ids": [1],
    }
    save_weights(path, model.state_dict(), metadata)
    return path, model


def eager(model: torch.nn.Module, image: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model([image[0]])[0]
    return {k: v.numpy() for k, v in out.items()}


def assert_parity(ref: dict[str, np.ndarray], got: tuple[np.ndarray, ...]) -> None:
    boxes, labels, scores, mask_probs = got
    assert len(ref["boxes"]) > 0, "the test image must give detections to compare"
    assert boxes.shape == ref["boxes"].shape
    # match each eager detection to the closest exported one (order may differ on ties)
    dist = np.abs(ref["boxes"][:, None, :] - boxes[None, :, :]).max(axis=2)
    match = dist.argmin(axis=1)
    assert dist[np.arange(len(match)), match].max() < 1.0
    assert len(set(match.tolist())) == len(match)
    np.testing.assert_array_equal(labels[match], ref["labels"])
    np.testing.assert_allclose(scores[match], ref["scores"], atol=1e-3)
    pasted = paste_masks(torch.from_numpy(mask_probs), torch.from_numpy(boxes), (SIZE, SIZE))
    ours = pasted.numpy()[match, 0] >= 0.5
    theirs = ref["masks"][:, 0] >= 0.5
    inter = (ours & theirs).sum(axis=(1, 2))
    union = (ours | theirs).sum(axis=(1, 2))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    assert iou.min() > 0.98


@pytest.mark.parametrize("variant", ["trained", "trained_nested", "trained_two"])
def test_onnx_matches_eager(variant: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    weights, model = request.getfixturevalue(variant)
    channels = model.config.backbone.in_channels
    out = tmp_path / "model.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, channels, SIZE, SIZE]
    image = example_input(SIZE, seed=1, channels=channels)  # not the traced one (seed 0)
    got = session.run(None, {"image": image.numpy()})
    assert_parity(eager(model, image), tuple(got))


@pytest.mark.parametrize("variant", ["trained", "trained_nested"])
def test_torchscript_matches_eager(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    weights, model = request.getfixturevalue(variant)
    out = tmp_path / "model.pt"
    assert main(["export", "--weights", str(weights), "--format", "torchscript", str(out)]) == 0
    graph = torch.jit.load(str(out))
    image = example_input(SIZE, seed=2)
    with torch.no_grad():
        got = tuple(t.numpy() for t in graph(image))
    assert_parity(eager(model, image), got)


def test_missing_weights_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.safetensors"
    assert main(["export", "--weights", str(missing), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "nope.safetensors" in err and "Traceback" not in err


def test_unwritable_output_is_one_line_error(
    trained: tuple[Path, torch.nn.Module], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "model.onnx"  # a path below a regular file cannot be created
    weights, _ = trained
    assert main(["export", "--weights", str(weights), "--image-size", "64", str(out)]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_proposals_option_caps_the_detections(
    trained: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    """With N proposals per image, at most N detections (one class) can come out."""
    weights, model = trained
    out = tmp_path / "few.pt"
    args = ["export", "--weights", str(weights), "--format", "torchscript", "--proposals", "5"]
    assert main([*args, str(out)]) == 0
    image = example_input(SIZE, seed=1)
    with torch.no_grad():
        boxes = torch.jit.load(str(out))(image)[0]
    assert boxes.shape[0] <= 5 < len(eager(model, image)["boxes"])
    assert main([*args[:-1], "0", str(tmp_path / "none.pt")]) == 2
