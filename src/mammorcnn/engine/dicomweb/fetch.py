"""WADO-RS retrieval of one image into a private temporary file, for the file-based readers.

The images are fetched in the transfer syntax they are stored in (``transfer-syntax=*``): the
server would otherwise decompress a 13-megapixel mammogram to Explicit VR Little Endian (PS3.18
default), and an image it cannot decode would fail on the server instead of being skipped
here like a bad file. A file lives only until its outputs are written (:meth:`release`); the
folder is private to the process (``mkdtemp`` is 0700) and removed at the end or on exit.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from mammorcnn.engine.dicomweb.client import Server, ServerError, server_errors
from mammorcnn.engine.dicomweb.studies import Instance
from mammorcnn.errors import ImageReadError, InputError

ANY_TRANSFER_SYNTAX = (("application/dicom", "*"),)


@dataclass(frozen=True)
class Source:
    """What a SEG of a fetched image must agree with (kept after its file is deleted)."""

    instance: Instance
    url: str
    rows: int | None
    columns: int | None


class Fetcher:
    """Fetches images of ``server`` into a temporary folder and remembers their source."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.folder = Path(tempfile.mkdtemp(prefix="mammorcnn-dicomweb-")).resolve()
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        self.sources: dict[Path, Source] = {}

    def url(self, instance: Instance) -> str:
        return instance.url(self.server.url)

    def fetch(self, instance: Instance) -> Path:
        """The image as a local DICOM file. A server that is down raises ServerError; an
        instance the server will not give, or that is not DICOM, raises ImageReadError (a bad
        image, skipped with --skip-bad)."""
        url = self.url(instance)
        try:
            with server_errors(self.server, f"WADO-RS of {url}"):
                ds = self.server.client.retrieve_instance(
                    instance.study, instance.series, instance.sop, media_types=ANY_TRANSFER_SYNTAX
                )
        except ServerError:
            raise
        except InputError as error:  # an HTTP 4xx for this image, or a malformed answer
            reason = error.problem.split(": ", 1)[-1]  # without "WADO-RS of URL"
            raise ImageReadError(url, f"cannot be retrieved ({reason})") from None
        except Exception as error:  # pydicom on a part that is not DICOM
            raise ImageReadError(url, f"not a DICOM instance ({type(error).__name__})") from None
        path = self.folder / f"{instance.sop}.dcm"
        try:
            ds.save_as(path)
        except Exception as error:  # a dataset pydicom parsed but cannot write back
            raise ImageReadError(url, f"not a writable DICOM dataset ({error})") from None
        rows, columns = ds.get("Rows"), ds.get("Columns")
        self.sources[path] = Source(
            instance, url, None if rows is None else int(rows),
            None if columns is None else int(columns),
        )  # fmt: skip
        return path

    def release(self, path: Path | None) -> None:
        """Delete a fetched file once its outputs are written (a batch holds 13 MP each)."""
        if path is not None and path in self.sources:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self._cleanup()
