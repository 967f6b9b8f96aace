"""Write an :class:`InferenceGraph` as ONNX (legacy tracer) or TorchScript (``jit.trace``).

The ONNX file uses opset 17: ``RoiAlign`` with ``half_pixel`` coordinates (opset 16) is what
the model's ``roi_align(aligned=True)`` needs, and torchvision registers that symbolic. The
legacy TorchScript-based exporter is used because the dynamo exporter needs ``onnxscript``
and does not handle torchvision's detection ops' data-dependent shapes without more work.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.export.graph import INPUT_NAMES, OUTPUT_NAMES, InferenceGraph
from mammorcnn.errors import ConfigError, InputError

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    """No autograd, and no tracer warnings: the tracer warns about every Python int taken
    from a shape, and with a fixed input size those are the intended constants."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        yield


def export_onnx(graph: InferenceGraph, example: torch.Tensor, out: Path) -> None:
    """Trace ``graph`` on ``example`` and write the ONNX model to ``out`` atomically."""
    buffer = io.BytesIO()
    with _tracing():
        torch.onnx.export(
            graph,
            (example,),
            buffer,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            do_constant_folding=True,
        )
    atomic_write_bytes(Path(out), buffer.getvalue())


def export_torchscript(graph: InferenceGraph, example: torch.Tensor, out: Path) -> None:
    """Trace ``graph`` on ``example`` and save the TorchScript module to ``out`` atomically."""
    buffer = io.BytesIO()
    with _tracing():  # also hides torch 2.14's deprecation warning of torch.jit
        traced = torch.jit.trace(graph, (example,), check_trace=False)
        torch.jit.save(traced, buffer)
    atomic_write_bytes(Path(out), buffer.getvalue())


def export_graph(graph: InferenceGraph, example: torch.Tensor, out: Path, fmt: str) -> None:
    """Write ``graph`` in format ``fmt`` (``onnx`` or ``torchscript``); an unwritable ``out``
    raises :class:`InputError` naming it."""
    writers = {"onnx": export_onnx, "torchscript": export_torchscript}
    if fmt not in writers:  # the CLI restricts the choice; a library caller gets a message
        raise ConfigError(f"unknown export format {fmt!r}; use one of {FORMATS}")
    try:
        writers[fmt](graph, example, Path(out))
    except OSError as error:
        raise InputError(
            out, f"cannot write the exported graph ({error.strerror or error})"
        ) from None
