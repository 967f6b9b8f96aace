"""One writer per output folder: an advisory ``flock`` on FOLDER/.mammorcnn.lock.

Two `train`/`predict`/`evaluate`/`crossval` runs into one folder would interleave checkpoints,
logs and outputs with nothing saying so. Each command holds an exclusive lock on its output
folder for as long as it runs; a second one is refused at once with the holder's process id.
The kernel drops a flock when its process dies (even by SIGKILL), so a killed run never blocks
the next one; a lock file left behind by a kill is simply locked again. Shared locks let
cooperating runs share a folder (``crossval --fold`` jobs, each holding its own fold's folder
exclusively) while still refusing a run that wants the whole folder.

Advisory and local: it guards against mammorcnn runs, not other programs, and NFS folders
lock only where the server supports it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from mammorcnn.atomic import ensure_folder, output_error
from mammorcnn.errors import FolderBusyError, InputError

LOCK_NAME = ".mammorcnn.lock"


@contextmanager
def folder_lock(
    folder: str | os.PathLike[str] | None,
    command: str,
    *,
    shared: bool = False,
    enabled: bool = True,
) -> Iterator[Path | None]:
    """Hold the lock of `folder` (created if needed) while the block runs; yields the lock
    file. No-op when `folder` is None or not `enabled` (e.g. DDP ranks other than 0).

    Raises FolderBusyError when another process holds it (exclusively, or at all when
    `shared` is False), OutputError when the folder or lock file cannot be written.
    """
    if folder is None or not enabled:
        yield None
        return
    path = ensure_folder(folder) / LOCK_NAME
    fd = _acquire(path, command, shared)
    try:
        yield path
    finally:
        _release(path, fd)


def _acquire(path: Path, command: str, shared: bool) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise output_error(error, path) from error
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderBusyError(path.parent, holder) from None
        # A holder that just finished unlinks the file; a lock on that unlinked file guards
        # nothing, so try again on the current one.
        if _same_file(fd, path):
            break
        os.close(fd)
    try:
        if not shared:
            os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, f"{os.getpid()} mammorcnn {command}\n".encode())
    except OSError as error:
        os.close(fd)
        raise output_error(error, path) from error
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder(fd: int) -> str:
    """'process PID (mammorcnn COMMAND)' of the newest holder written into the lock file."""
    text = ""
    for _ in range(50):  # a holder that has just won a race writes its pid right after
        try:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        except OSError:
            break
        if text.strip():
            break
        time.sleep(0.01)
    last = next((line.split() for line in reversed(text.split("\n")) if line.strip()), None)
    if not last:
        return "another process"
    return f"process {last[0]}" + (f" ({' '.join(last[1:])})" if len(last) > 1 else "")


def _release(path: Path, fd: int) -> None:
    """Unlink the lock file when no one else holds it, then unlock (by closing)."""
    try:
        # Succeeds only when no other process holds a (shared) lock on it.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _same_file(fd, path):
            path.unlink()
    except OSError:  # still shared by others, or a read-only folder: leave the file
        pass
    finally:
        os.close(fd)


__all__ = ["LOCK_NAME", "folder_lock"]


def claim_output_folder(out: Path, held: ExitStack | None = None, command: str = "predict") -> Path:
    """Create the output folder (a path that cannot be one is named in one line) and, with
    `held`, lock it until `held` closes: one writer per folder."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            out, f"cannot create the output folder ({error.strerror or error})"
        ) from None
    if held is not None:
        held.enter_context(folder_lock(out, command))
    return out
