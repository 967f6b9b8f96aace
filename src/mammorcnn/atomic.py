"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

The data goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is an atomic rename), is fsync'ed, renamed over the target, and the folder is
fsync'ed so the rename itself survives a power cut. A crash at any point leaves at most a
``.<name>.*.tmp`` file, which :func:`remove_stale_temp_files` clears on the next start.
The one writer every package uses (data, engine, cli), so outputs share one behaviour: the
final file gets the usual permissions (0666 minus the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".tmp"

# Test-only fault injection (used by the kill test, issue 6): when the destination's file name
# matches this glob, the writer writes half of the data, fsyncs it, creates
# "<destination>.paused-for-test" and sleeps, so a test can SIGKILL the process mid-write.
FAULT_PAUSE_ENV = "MAMMORCNN_FAULT_PAUSE_WRITE"


def _umask_mode() -> int:
    mask = os.umask(0)  # reading the umask means setting it; done once, at import
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _umask_mode()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is always either the old or the new content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            pattern = os.environ.get(FAULT_PAUSE_ENV)
            if pattern and fnmatch.fnmatch(path.name, pattern):
                _pause_half_written(handle, data, path)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _pause_half_written(handle, data: bytes, path: Path) -> None:  # noqa: ANN001
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    Path(f"{path}.paused-for-test").touch()
    time.sleep(600)
    handle.seek(0)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete temp files left by a crashed writer in `folder`; returns what was removed."""
    removed = []
    if not Path(folder).is_dir():
        return removed
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    for marker in Path(folder).glob("*.paused-for-test"):
        marker.unlink(missing_ok=True)
    return removed
