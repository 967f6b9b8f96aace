"""Graceful stop on SIGTERM/SIGINT: finish the current step or image, keep what is written.

Clusters (SLURM, Kubernetes, spot machines) stop a job with SIGTERM and a grace period before
SIGKILL; Ctrl-C sends SIGINT. Inside :class:`GracefulStop` the first of either only sets a
flag; the long loops (training steps, images of predict/evaluate) ask :func:`requested` at a
safe point, save what they must and raise :class:`Stopped`, which exits with the shell's code
for the signal (143 SIGTERM, 130 SIGINT). A second signal stops at once: the default action
is restored and the signal re-sent (files are written atomically, so nothing is left half).

Only the CLI commands install it: a notebook or library caller keeps Python's usual
KeyboardInterrupt. Handlers can only be set in the main thread; elsewhere it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType, TracebackType

log = logging.getLogger("mammorcnn")

SIGNALS = (signal.SIGTERM, signal.SIGINT)

_active: GracefulStop | None = None


class Stopped(SystemExit):
    """A run stopped for a signal at a safe point; exits 128 + the signal number.

    A SystemExit, so the CLI's error handling leaves it alone and the process ends with the
    code a shell reports for the signal, and ``except Exception`` blocks do not swallow it.
    """

    def __init__(self, signum: int, where: str) -> None:
        super().__init__(128 + signum)
        self.signum, self.where = signum, where

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name} {self.where}"


class GracefulStop:
    """Context manager: while active, SIGTERM/SIGINT request a stop instead of killing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._outer: GracefulStop | None = None

    def __enter__(self) -> GracefulStop:
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        self._outer, _active = _active, self
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _active
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        _active = self._outer

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: stop now, as if never caught
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        log.warning(
            "%s received: stopping at the next safe point (send it again to stop at once)",
            signal.Signals(signum).name,
        )


def requested() -> int | None:
    """The signal that asked the active GracefulStop to stop, or None (also when none is)."""
    return None if _active is None else _active.signum


def stop_if_requested(where: str) -> None:
    """Raise :class:`Stopped` if a stop was requested; `where` says what is complete."""
    signum = requested()
    if signum is not None:
        raise stopped(signum, where)


def stopped(signum: int, where: str) -> Stopped:
    """The Stopped exception to raise, after logging where the run stopped."""
    error = Stopped(signum, where)
    log.warning("%s", error)
    return error


__all__ = ["GracefulStop", "Stopped", "requested", "stop_if_requested", "stopped"]
