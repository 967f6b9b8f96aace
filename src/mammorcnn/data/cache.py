"""Disk cache of preprocessed images, so epochs after the first never decode a DICOM again.

Key: SHA-256 of (file size, modification time in ns, SHA-256 of the first and last 64 KiB,
the preprocessing settings, any laterality hint, and the cache format version). Hashing the
whole file would read 20-50 MB per DICOM per epoch, the I/O the cache exists to avoid; size,
mtime and the head (which holds the DICOM header and its UIDs) and tail catch every realistic
change, and any write to the file changes its mtime. The path is not part of the key, so a
dataset moved with its timestamps (``cp -p``, ``rsync -a``) keeps its cache.

Entry: one ``.npz`` (zip with a CRC per member) holding the image quantised to uint16 (2 MB
at 1024x1024; error <= 7.6e-6, far below the 16-bit source's own step after normalisation),
the PreprocessRecord and the reader's meta as JSON, and the key. Written to a temporary file
then ``os.replace``-d. Anything wrong on reading (truncated, CRC error, wrong key, shape, or
record) makes the entry count as missing: it is recomputed, never trusted.

The cache is best-effort: a folder that cannot be written (disk full, read-only, vanished) costs
only the speed-up. The first failed write warns once and the cache stops writing in this process
(each DataLoader worker is a process of its own).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.data.preprocess import PreprocessRecord

CACHE_VERSION = 1
_SAMPLE = 64 * 1024
_SCALE = 65535.0


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mammorcnn/preprocessed`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mammorcnn" / "preprocessed"


def quantise(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint16, the stored form."""
    return np.round(np.clip(image, 0.0, 1.0) * _SCALE).astype(np.uint16)


def dequantise(stored: np.ndarray) -> np.ndarray:
    return (stored.astype(np.float32) / np.float32(_SCALE)).astype(np.float32)


def cache_key(path: str | os.PathLike[str], settings: dict[str, Any]) -> str:
    """Key of ``path`` preprocessed with ``settings`` (JSON-safe); raises OSError if unreadable."""
    path = Path(path)
    stat = path.stat()
    sample = hashlib.sha256()
    with path.open("rb") as handle:
        sample.update(handle.read(_SAMPLE))
        if stat.st_size > _SAMPLE:
            handle.seek(max(_SAMPLE, stat.st_size - _SAMPLE))
            sample.update(handle.read(_SAMPLE))
    payload = {
        "version": CACHE_VERSION,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sample": sample.hexdigest(),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class PreprocessCache:
    """Folder of cache entries, one per (file, settings) key, fanned out by key prefix."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0
        # After one failed write, later ones would fail too (and warn per image): skip them.
        self.write_failed = False

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str) -> tuple[np.ndarray, PreprocessRecord, dict] | None:
        """The cached (image float32, record, meta), or None if absent or not trustworthy."""
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                info = json.loads(bytes(data["info"]).decode("utf-8"))
                stored = data["image"]
            if info["key"] != key:
                raise ValueError("key mismatch")
            record = PreprocessRecord.from_dict(info["record"])
            size = record.image_size
            if stored.dtype != np.uint16 or stored.shape != (size, size):
                raise ValueError(f"image {stored.dtype} {stored.shape}")
            result = dequantise(stored), record, dict(info["meta"])
        except Exception as exc:  # corrupt entry: recompute (and overwrite) rather than trust
            warnings.warn(
                f"{path}: corrupt cache entry ignored ({type(exc).__name__})", stacklevel=2
            )
            self.misses += 1
            return None
        self.hits += 1
        return result

    def store(self, key: str, image: np.ndarray, record: PreprocessRecord, meta: dict) -> None:
        """Write atomically; a full or read-only disk only costs the speed-up (one warning)."""
        if self.write_failed:
            return
        path = self._path(key)
        info = {"key": key, "record": record.to_dict(), "meta": meta}
        buffer = io.BytesIO()
        info_bytes = np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8)
        np.savez(buffer, image=quantise(image), info=info_bytes)
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError as exc:  # atomic_write_bytes raises OutputError, an OSError
            self.write_failed = True
            cause = getattr(exc, "cause", None) or exc.strerror or exc
            warnings.warn(
                f"{path}: preprocessing cache not written ({cause}); continuing without "
                f"caching into {self.folder}",
                stacklevel=2,
            )


__all__ = ["PreprocessCache", "cache_key", "default_cache_dir", "dequantise", "quantise"]
