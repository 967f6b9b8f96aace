"""The project's own error types.

Every problem a user can cause (a bad file, a bad config, a foreign checkpoint, a NaN loss)
surfaces as a subclass of :class:`MammoError`, so the CLI can print one clear line and exit
non-zero instead of a traceback, and fuzz tests can assert that nothing else escapes.
"""

from __future__ import annotations

from os import PathLike


class MammoError(Exception):
    """Base class of every error the tool raises on purpose."""


class InputError(MammoError):
    """A file given to the tool cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        # DataLoader workers pickle exceptions back to the main process; the default reduce
        # would call __init__ with the message only and lose the (path, problem) pair.
        return (self.__class__, (self.path, self.problem))


class ImageReadError(InputError):
    """An image file (DICOM, PNG, TIFF, PGM) cannot be decoded into a single-channel image."""


class AnnotationError(InputError):
    """An annotation file (COCO JSON, CSV, XML, Info.txt) is malformed or inconsistent."""


class CheckpointError(InputError):
    """A checkpoint is truncated, unsafe, or belongs to another architecture/config."""


class ConfigError(MammoError):
    """A configuration has unknown keys, wrong types or impossible values."""


class TrainingError(MammoError):
    """Training cannot continue (for example a NaN or infinite loss)."""


class OutputError(MammoError, OSError):
    """A file cannot be written: disk full, read-only or vanished folder (a machine fault).

    Also an OSError (errno, strerror = the cause, filename), so code that already handles
    OSError around a write keeps working; the CLI shows it as one line, exit code 2.
    """

    def __init__(
        self, path: str | PathLike[str], cause: str, code: int | None = None, hint: str = ""
    ) -> None:
        OSError.__init__(self, code, cause, str(path))
        self.path, self.cause, self.hint = str(path), cause, hint

    def __str__(self) -> str:
        return f"{self.path}: cannot write ({self.cause})" + (f"; {self.hint}" if self.hint else "")

    def with_hint(self, hint: str) -> OutputError:
        """The same error with what the user can do about it (e.g. how to resume)."""
        return OutputError(self.path, self.cause, self.errno, hint)

    def __reduce__(self):  # noqa: ANN204 - pickle protocol (DataLoader workers)
        return (self.__class__, (self.path, self.cause, self.errno, self.hint))


class FolderBusyError(MammoError):
    """Another mammorcnn process writes into the same output folder (it holds the lock)."""

    def __init__(self, folder: str | PathLike[str], holder: str) -> None:
        self.folder, self.holder = str(folder), holder
        super().__init__(
            f"{folder}: in use by {holder}; wait for it to finish or choose another folder"
        )

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        return (self.__class__, (self.folder, self.holder))
