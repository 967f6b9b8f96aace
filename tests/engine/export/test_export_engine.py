"""The export engine directly: loading from a weights file, the graph's outputs, the writers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mammorcnn.engine.export import (
    FORMATS,
    InferenceGraph,
    example_input,
    export_graph,
    load_model_for_export,
)
from mammorcnn.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def graph(forced_weights: Path) -> tuple[InferenceGraph, int]:
    model, size = load_model_for_export(forced_weights)
    return InferenceGraph(model), size


def test_a_checkpoint_with_test_time_flips_warns_that_the_graph_has_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, forced_weights: Path
) -> None:
    from ..conftest import make_checkpoint

    flipped = make_checkpoint(tmp_path / "flip.safetensors", test_time_flip=True)
    with caplog.at_level("WARNING", logger="mammorcnn.export"):
        load_model_for_export(flipped)
    assert "test_time_flip" in caplog.text and "flip.safetensors" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mammorcnn.export"):
        load_model_for_export(forced_weights)
    assert "test_time_flip" not in caplog.text


def test_loading_gives_an_eval_model_on_the_cpu_at_its_trained_size(
    forced_weights: Path,
) -> None:
    model, size = load_model_for_export(forced_weights)
    assert size == 128  # the checkpoint's preprocess.image_size
    assert not model.training
    assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_example_input_is_a_seeded_unit_range_image() -> None:
    image = example_input(64, seed=1)
    assert image.shape == (1, 1, 64, 64) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.std()) > 0
    assert torch.equal(image, example_input(64, seed=1))
    assert not torch.equal(image, example_input(64, seed=2))


def test_forced_graph_outputs_its_known_detections(graph: tuple[InferenceGraph, int]) -> None:
    model, size = graph
    with torch.no_grad():
        boxes, labels, scores, masks = model(example_input(size))
    k = len(scores)
    assert 0 < k <= 50  # rpn.post_nms_top_n_test of the tiny model
    assert boxes.shape == (k, 4) and masks.shape == (k, 1, 14, 14)
    assert labels.tolist() == [1] * k
    assert torch.allclose(scores, torch.ones(k))  # class logit +10 against -10
    assert torch.allclose(masks, torch.full_like(masks, torch.sigmoid(torch.tensor(10.0))))
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= size).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_file_computes_what_the_graph_computes(
    graph: tuple[InferenceGraph, int], tmp_path: Path
) -> None:
    model, size = graph
    example = example_input(size)
    export_graph(model, example, tmp_path / "m.pt", "torchscript")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # written atomically, no temp left
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    other = example_input(size, seed=5)  # an input it was not traced with
    with torch.no_grad():
        for got, want in zip(loaded(other), model(other)):
            assert got.shape == want.shape
            assert torch.allclose(got.float(), want.float(), atol=1e-4)


def test_unknown_format_and_unwritable_path_are_named(
    graph: tuple[InferenceGraph, int], tmp_path: Path
) -> None:
    model, size = graph
    assert FORMATS == ("onnx", "torchscript")
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        export_graph(model, example_input(size), tmp_path / "m.tflite", "tflite")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write the exported graph"):
        export_graph(model, example_input(size), blocker / "m.pt", "torchscript")


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_a_model_with_context_around_the_box_exports(tmp_path: Path) -> None:
    from mammorcnn.model import build_model, tiny_config

    config = tiny_config()
    config.box_head.context_scale = 2.0
    config.box_head.score_thresh = 0.0  # an untrained head: keep its detections to compare
    torch.manual_seed(0)
    graph = InferenceGraph(build_model(config))
    example = example_input(64)
    export_graph(graph, example, tmp_path / "m.pt", "torchscript")
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    other = example_input(64, seed=3)
    with torch.no_grad():
        want = graph(other)
        assert len(want[2]) > 0
        for got, expected in zip(loaded(other), want):
            assert got.shape == expected.shape
            assert torch.allclose(got.float(), expected.float(), atol=1e-4)
