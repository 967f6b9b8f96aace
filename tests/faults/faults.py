"""Fault injection at the package's write sites, by file name (fnmatch glob).

``fail_fsync``: the data reaches the temporary file but fsync reports the error, as a full
disk does with delayed allocation. ``fail_create``: the temporary file cannot be created, as in
a read-only or vanished folder. Both let every other write through.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import tempfile

import pytest

from mammorcnn import atomic

ENOSPC, EROFS, ENOENT = errno.ENOSPC, errno.EROFS, errno.ENOENT


def _target(tmp_name: str) -> str:
    """Destination name of the atomic writer's temporary file ``.<name>.<random>.tmp``."""
    return os.path.basename(tmp_name)[1:].rsplit(".", 2)[0]


def fail_fsync(monkeypatch: pytest.MonkeyPatch, glob: str, code: int = ENOSPC) -> list[str]:
    """fsync of a file whose destination matches `glob` fails with `code`; returns the names."""
    real, hit = os.fsync, []

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if fnmatch.fnmatch(_target(name), glob):
            hit.append(_target(name))
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    return hit


def fail_create(monkeypatch: pytest.MonkeyPatch, glob: str, code: int = EROFS) -> list[str]:
    """Creating the temporary file for a destination matching `glob` fails with `code`."""
    real, hit = tempfile.mkstemp, []

    def mkstemp(*args, dir=None, prefix=None, **kwargs):  # noqa: ANN002, ANN003, ANN202, A002
        name = (prefix or "")[1:-1]
        if fnmatch.fnmatch(name, glob):
            hit.append(name)
            raise OSError(code, os.strerror(code), os.path.join(dir or "", prefix or ""))
        return real(*args, dir=dir, prefix=prefix, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    return hit
