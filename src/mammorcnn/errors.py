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
