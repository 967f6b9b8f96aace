"""STOW-RS of the SEGs into their source studies: validated first, never twice.

Identity of a run: the SEG's Software Versions (0018,1020) carry, besides the mammorcnn
version, the SHA-256 of the weights file and of the settings that change the masks (score
threshold, detection cap, proposals, bf16). Before storing, the study's SEGs are searched by
QIDO-RS (Modality SEG, returning Software Versions; servers such as Orthanc cannot *filter* on
that tag, so it is compared here) and a candidate's metadata (WADO-RS) tells which image it
references: a SEG with the same identity for the same image is not stored again unless
``force``.

Nothing partial: every SEG is written and validated locally (readable by highdicom, in the
source's study, referencing the source instance, on its pixel grid) before the first is sent,
and each STOW-RS sends one complete instance. A refusal names the HTTP status and the server's
Failure Reason; a server that answers success without listing the instance is an error too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import requests
from pydicom.dataset import Dataset

from mammorcnn import __version__
from mammorcnn.atomic import atomic_write_bytes
from mammorcnn.engine.dicomweb.client import Server, server_errors
from mammorcnn.engine.dicomweb.fetch import Source
from mammorcnn.errors import InputError

log = logging.getLogger("mammorcnn.dicomweb")

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# PS3.4 Annex B / PS3.18: the failure reasons a STOW-RS answer gives.
FAILURE_REASONS = {
    0x0110: "processing failure", 0x0122: "SOP class not supported",
    0x0124: "not authorized", 0xA700: "out of resources",
    0xA900: "data set does not match SOP class", 0xC000: "cannot understand",
    0xC122: "transfer syntax not supported",
}  # fmt: skip


def run_identity(weights: Path, settings: Mapping[str, Any]) -> list[str]:
    """Software Versions of this run's SEGs: version, weights hash, settings hash."""
    digest = hashlib.sha256()
    with Path(weights).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    settings_hash = hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode())
    return [
        __version__,
        f"weights sha256:{digest.hexdigest()[:16]}",
        f"settings sha256:{settings_hash.hexdigest()[:8]}",
    ]


def stamp(path: Path, identity: list[str]) -> None:
    """Put the run identity into a written SEG (atomically, like every output)."""
    ds = pydicom.dcmread(path)
    ds.SoftwareVersions = identity
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(path, buffer.getvalue())


def referenced_sops(ds: Dataset) -> set[str]:
    """SOP Instance UIDs a SEG references (Referenced Series Sequence)."""
    return {
        str(item.ReferencedSOPInstanceUID)
        for series in ds.get("ReferencedSeriesSequence", [])
        for item in series.get("ReferencedInstanceSequence", [])
    }


def validate(path: Path, source: Source) -> Dataset:
    """The SEG at ``path`` if it is one highdicom reads and it fits ``source``; else
    InputError naming what is wrong (then nothing is sent)."""
    import highdicom as hd

    try:
        seg = pydicom.dcmread(path)
        hd.seg.Segmentation.from_dataset(seg, copy=True)
    except Exception as error:  # highdicom/pydicom raise many types
        raise InputError(path, f"not a valid DICOM SEG ({error}); not stored") from None
    problems = []
    if seg.SOPClassUID != SEGMENTATION_STORAGE:
        problems.append(f"SOP class {seg.SOPClassUID}")
    if seg.StudyInstanceUID != source.instance.study:
        problems.append("study differs from the source's")
    if referenced_sops(seg) != {source.instance.sop}:
        problems.append("does not reference the source image")
    if (source.rows, source.columns) != (int(seg.Rows), int(seg.Columns)):
        problems.append(f"{seg.Rows}x{seg.Columns} pixels, source {source.rows}x{source.columns}")
    if int(seg.get("NumberOfFrames", 1)) != len(seg.SegmentSequence):
        problems.append("frames do not match segments")
    if problems:
        raise InputError(path, f"invalid SEG ({'; '.join(problems)}); not stored")
    return seg


def existing_seg(server: Server, source: Source, identity: list[str]) -> str | None:
    """Series UID of a SEG of the same run identity for the same image, or None."""
    study = source.instance.study
    with server_errors(server, f"QIDO-RS search of SEGs in study {study}"):
        items = server.client.search_for_instances(
            study_instance_uid=study,
            search_filters={"Modality": "SEG"},
            fields=["SoftwareVersions"],
            get_remaining=True,
        )
        for item in items:
            versions = item.get("00181020", {}).get("Value") or []
            if [str(v) for v in versions] != identity:
                continue
            series, sop = (item[t]["Value"][0] for t in ("0020000E", "00080018"))
            meta = server.client.retrieve_instance_metadata(study, series, sop)
            references = {k: v for k, v in meta.items() if k == "00081115"}  # no bulk data
            if source.instance.sop in referenced_sops(Dataset.from_json(references)):
                return str(series)
    return None


def _failure(payload: Dataset | None) -> str:
    """The server's reasons from a STOW-RS answer's Failed SOP Sequence."""
    reasons = []
    for item in (payload or Dataset()).get("FailedSOPSequence", []):
        code = int(item.get("FailureReason", 0))
        reasons.append(f"Failure Reason 0x{code:04X} {FAILURE_REASONS.get(code, '')}".rstrip())
    return "; ".join(reasons)


def _answer(response: requests.Response | None) -> Dataset | None:
    if response is None or not response.content:
        return None
    try:
        return Dataset.from_json(response.json())
    except Exception:  # not DICOM JSON (a proxy's HTML page): the status alone is reported
        return None


def store(server: Server, seg: Dataset, name: str, study: str) -> None:
    """STOW-RS of one SEG into ``study`` (its source's); a refusal raises InputError with the
    status and the server's reason."""
    sop = str(seg.SOPInstanceUID)
    what = f"STOW-RS of {name} into study {study}"
    with server_errors(server, what):
        try:
            answer = server.client.store_instances([seg], study_instance_uid=study)
        except requests.exceptions.HTTPError as error:
            response = error.response
            if response is None or response.status_code in (401,):
                raise
            reason = _failure(_answer(response)) or response.text.strip()[:200]
            raise InputError(
                server.url,
                f"{what} refused: HTTP {response.status_code} {response.reason}"
                + (f" ({reason})" if reason else ""),
            ) from None
        stored = {str(i.ReferencedSOPInstanceUID) for i in answer.get("ReferencedSOPSequence", [])}
        if sop not in stored:
            reason = _failure(answer) or "the answer does not list it as stored"
            raise InputError(server.url, f"{what} refused ({reason})")
        found = server.client.search_for_instances(
            study_instance_uid=study, search_filters={"SOPInstanceUID": sop}
        )
        if not found:  # e.g. an Orthanc filter that drops instances but answers success
            raise InputError(server.url, f"{what}: answered stored, but QIDO-RS does not find it")


@dataclass
class PushResult:
    stored: list[str]  # SEG file names sent
    kept: list[str]  # already on the server (same run identity, same image)


def push_segs(
    server: Server,
    segs: list[tuple[Path, Source]],
    identity: list[str],
    force: bool = False,
) -> PushResult:
    """Validate every SEG, then store those not already there (see module docstring)."""
    for path, source in segs:  # all first: one bad SEG and none is sent
        validate(path, source)
    result = PushResult([], [])
    for path, source in segs:  # read again (a batch of 13 MP SEGs need not sit in memory)
        earlier = None if force else existing_seg(server, source, identity)
        if earlier is not None:
            log.info(
                "%s: the same SEG is already in study %s (series %s); --force stores it again",
                path.name, source.instance.study, earlier,
            )  # fmt: skip
            result.kept.append(path.name)
            continue
        store(server, pydicom.dcmread(path), path.name, source.instance.study)
        log.info("%s stored into study %s", path.name, source.instance.study)
        result.stored.append(path.name)
    return result
