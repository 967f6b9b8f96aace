"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

The data goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is an atomic rename), is fsync'ed, renamed over the target, and the folder is
fsync'ed so the rename itself survives a power cut. A crash at any point leaves at most a
``.<name>.*.tmp`` file, which :func:`remove_stale_temp_files` clears on the next start.
The one writer every package uses (data, engine, cli), so outputs share one behaviour: the
final file gets the usual permissions (0666 minus the umask), not mkstemp's private 0600, and a
fault of the machine (disk full, read-only or vanished folder) is an
:class:`~mammorcnn.errors.OutputError` naming the file and the cause (one line, exit code 2),
never a traceback; the old file is left as it was.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import tempfile
import time
from pathlib import Path

from mammorcnn.errors import OutputError

TEMP_SUFFIX = ".tmp"

# Test-only fault injection (used by the kill test, tests/engine/training/test_kill.py): when the destination's file name
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


# What the user reads for the errnos a machine fault raises; others keep the system's text.
_CAUSES = {
    errno.ENOSPC: "no space left on device: the disk is full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "its folder does not exist (removed while running?)",
    errno.ENOTDIR: "a file stands where its folder should be",
    errno.EIO: "input/output error (a failing disk or a lost network mount)",
}


def output_error(error: OSError, path: str | os.PathLike[str]) -> OutputError:
    """`error` raised while writing `path` as the OutputError the user sees (kept as it is
    when it already is one)."""
    if isinstance(error, OutputError):
        return error
    cause = _CAUSES.get(error.errno) or error.strerror or str(error)
    name = errno.errorcode.get(error.errno or -1)
    return OutputError(path, f"{cause}, {name}" if name else cause, error.errno)


def ensure_folder(folder: str | os.PathLike[str]) -> Path:
    """Create `folder` (and parents); a place that cannot hold one is an OutputError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise output_error(error, folder) from error
    return folder


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is always either the old or the new content.

    Raises OutputError (also an OSError) when the machine refuses the write.
    """
    path = Path(path)
    try:
        _write(path, data)
    except OSError as error:
        raise output_error(error, path) from error
    _fsync_dir(path.parent)


def _write(path: Path, data: bytes) -> None:
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
