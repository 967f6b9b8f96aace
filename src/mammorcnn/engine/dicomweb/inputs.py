"""`predict --dicomweb`: images from a PACS in, SEGs back into their studies.

The prediction itself is the one `predict` runs on files: each image is fetched into a
temporary file just before it is read (so a run over many studies holds only a batch on disk)
and the same writers produce predictions.json, PNGs and SEGs. This class is what differs:
which images, how to fetch them, how to name them in outputs, and the push at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mammorcnn.engine.dicomweb.client import connect
from mammorcnn.engine.dicomweb.fetch import Fetcher
from mammorcnn.engine.dicomweb.push import PushResult, push_segs, run_identity, stamp
from mammorcnn.engine.dicomweb.studies import Instance, find_instances
from mammorcnn.errors import InputError, MammoError

log = logging.getLogger("mammorcnn.dicomweb")


class DicomwebInputs:
    """The images of the studies asked for, found by QIDO-RS at construction (so an unknown
    study fails before the model is loaded)."""

    def __init__(
        self,
        url: str,
        studies: Sequence[str] = (),
        since: str | None = None,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.server = connect(url, insecure, **({} if timeout is None else {"timeout": timeout}))
        self.instances: list[Instance] = find_instances(self.server, list(studies), since)
        self.fetcher = Fetcher(self.server)
        log.info("%d image(s) to predict from %s", len(self.instances), self.server.url)

    @property
    def names(self) -> list[str]:
        """Output names: the SOP Instance UIDs (unique, and what a PACS user can look up)."""
        return [i.sop for i in self.instances]

    def fetch(self, instance: Instance) -> Path:
        return self.fetcher.fetch(instance)

    def label(self, source: Instance | Path | None) -> str:
        """How outputs and messages name an image: its WADO-RS URL (never a temporary path)."""
        if isinstance(source, Instance):
            return self.fetcher.url(source)
        known = self.fetcher.sources.get(source) if source is not None else None
        return known.url if known is not None else str(source)

    def relabel(self, error: MammoError) -> MammoError:
        """The same error naming the instance's URL instead of its temporary file."""
        if isinstance(error, InputError) and error.path is not None:
            source = self.fetcher.sources.get(Path(error.path))
            if source is not None:
                return type(error)(source.url, error.problem)
        return error

    def release(self, path: Path | None) -> None:
        self.fetcher.release(path)

    def entries(self, images: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """predictions.json image entries naming the instance instead of the temporary file."""
        out = []
        for entry in images:
            source = self.fetcher.sources.get(Path(entry["file"])) if entry.get("file") else None
            if source is None:
                out.append(entry)
                continue
            uids = source.instance
            out.append(
                {**entry, "file": source.url,
                 "dicomweb": {"study": uids.study, "series": uids.series, "instance": uids.sop}}
            )  # fmt: skip
        return out

    def finish(
        self,
        out: Path,
        images: Sequence[dict[str, Any]],
        weights: Path,
        settings: Mapping[str, Any],
        push: bool,
        force: bool = False,
    ) -> PushResult:
        """Stamp every SEG written with the run identity; with ``push`` store them (after all
        are validated), leaving out those already stored by the same run identity."""
        identity = run_identity(weights, settings)
        segs = []
        for entry in images:
            name = (entry.get("outputs") or {}).get("seg")
            source = self.fetcher.sources.get(Path(entry["file"])) if entry.get("file") else None
            if name and source is not None:
                stamp(out / name, identity)
                segs.append((out / name, source))
        if not push:
            return PushResult([], [])
        return push_segs(self.server, segs, identity, force)

    def close(self) -> None:
        self.fetcher.close()
