"""Checkpoint files: weights as safetensors (+ JSON metadata), training state as `.state.pt`.

Checkpoints are untrusted input (downloaded, shared between groups): weights load only through
safetensors, which cannot run code, and the training state only through
``torch.load(weights_only=True)``. Pickles are refused before anything is unpickled. Every write
goes through :func:`atomic_write_bytes`.

The weights' metadata carries the model config, the preprocessing settings and the class
names, so `predict` can rebuild the model and refuse inputs prepared differently.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.errors import CheckpointError

WEIGHTS_FORMAT = "mammorcnn-weights"
WEIGHTS_FORMAT_VERSION = 1
STATE_FORMAT_VERSION = 1

# First bytes of the formats torch.save/pickle produce: a pickle protocol opcode, or the zip
# archive of torch.save's default format. Neither is ever a safetensors file (whose first 8
# bytes are a little-endian header length), so such a file is refused without unpickling.
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")


def save_weights(path: Path, state_dict: Mapping[str, torch.Tensor], metadata: dict) -> None:
    """Write model weights and JSON-safe `metadata` to a safetensors file atomically."""
    # copy=True gives each tensor its own storage: safetensors refuses shared storages.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state_dict.items()}
    header = {
        "format": WEIGHTS_FORMAT,
        "format_version": str(WEIGHTS_FORMAT_VERSION),
        "mammorcnn": json.dumps(metadata, sort_keys=True),
    }
    atomic_write_bytes(Path(path), safetensors_save(tensors, metadata=header))


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a weights file written by :func:`save_weights`: ``(state_dict, metadata)``.

    Raises CheckpointError for a missing, truncated, corrupt, foreign or pickled file.
    """
    path = Path(path)
    _refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own, OSError, or a Rust panic
        raise CheckpointError(path, f"truncated or corrupt weights file ({error})") from None
    if header.get("format") != WEIGHTS_FORMAT or "mammorcnn" not in header:
        raise CheckpointError(path, "not a mammorcnn weights file (no mammorcnn metadata)")
    if header.get("format_version") != str(WEIGHTS_FORMAT_VERSION):
        raise CheckpointError(
            path, f"weights format version {header.get('format_version')} is not supported"
        )
    try:
        metadata = json.loads(header["mammorcnn"])
    except json.JSONDecodeError as error:
        raise CheckpointError(path, f"corrupt metadata: {error}") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(path, "corrupt metadata: not a JSON object")
    return tensors, metadata


def check_compatible(
    path: Path,
    state_dict: Mapping[str, torch.Tensor],
    model: nn.Module | Mapping[str, torch.Tensor],
) -> None:
    """Refuse weights of another architecture or class count, naming the first differences."""
    expected = model.state_dict() if isinstance(model, nn.Module) else model
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            path,
            "weights of another architecture: "
            f"{len(missing)} missing tensor(s) {missing[:3]}, "
            f"{len(unexpected)} unexpected tensor(s) {unexpected[:3]}",
        )
    wrong = [
        (k, tuple(state_dict[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if wrong:
        key, got, want = wrong[0]
        kind = (
            "class count"
            if any(n in key for n in ("cls_score", "mask_predictor", "bbox_pred"))
            else "architecture"
        )
        raise CheckpointError(
            path,
            f"weights of another {kind}: {key} has shape {got}, the model expects {want}"
            + (f" (and {len(wrong) - 1} more mismatches)" if len(wrong) > 1 else ""),
        )


def save_state(path: Path, state: dict) -> None:
    """Write the training state (tensors, numbers, strings, lists, dicts only) atomically."""
    buffer = io.BytesIO()
    torch.save({"format_version": STATE_FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_state(path: Path) -> dict:
    """Read a training state with ``weights_only=True``: a pickle that runs code is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such training-state file")
    try:
        with warnings.catch_warnings():  # the weights_only unpickler warns about protocols
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError (unsafe), RuntimeError/EOFError (truncated)
        raise CheckpointError(
            path,
            f"unsafe, truncated or corrupt training state ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})",
        ) from None
    if not isinstance(state, dict) or state.get("format_version") != STATE_FORMAT_VERSION:
        raise CheckpointError(path, "not a mammorcnn training-state file")
    return state


def _refuse_pickle(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise CheckpointError(path, "no such weights file") from None
    except OSError as error:
        raise CheckpointError(path, f"cannot read weights file: {error}") from None
    if len(head) < 8:
        raise CheckpointError(path, f"truncated weights file ({len(head)} bytes)")
    # The first byte of a safetensors file is the low byte of its header length, so 1 in 256
    # of them start with 0x80 too: those are told apart by their shape (a header length that
    # fits the file, then the JSON header's "{"), which no pickle or zip archive has.
    header_length = int.from_bytes(head[:8], "little")
    safetensors_shaped = head[8:9] == b"{" and header_length + 8 <= size
    if head.startswith(_PICKLE_MAGIC) and not safetensors_shaped:
        raise CheckpointError(
            path,
            "is a pickle/torch.save file; refusing to unpickle it (unpickling can run code). "
            "Only .safetensors weights are accepted",
        )


def check_same_settings(path: Path, metadata: dict, section: str, current: Mapping) -> None:
    """Refuse when `metadata[section]` (e.g. "preprocess") differs from the current settings.

    A model only works on inputs prepared as during its training; comparing the settings
    stored in the checkpoint names the exact field that differs instead of failing silently.
    """
    stored = metadata.get(section)
    if stored is None:
        raise CheckpointError(
            path, f"checkpoint lacks the {section!r} settings it was trained with"
        )
    differing = [
        f"{key}: checkpoint {stored.get(key)!r} vs now {current.get(key)!r}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]
    if differing:
        raise CheckpointError(
            path, f"trained with different {section} settings: " + "; ".join(differing[:5])
        )
