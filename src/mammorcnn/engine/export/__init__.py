"""Export a trained model as an inference graph (ONNX or TorchScript); see docs/performance.md."""

from mammorcnn.engine.export.graph import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    InferenceGraph,
    example_input,
)
from mammorcnn.engine.export.loading import load_model_for_export
from mammorcnn.engine.export.writers import FORMATS, export_graph

__all__ = [
    "FORMATS",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "InferenceGraph",
    "example_input",
    "export_graph",
    "load_model_for_export",
]
