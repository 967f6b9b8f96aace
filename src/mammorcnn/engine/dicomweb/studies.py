"""Which images of which studies to predict, found by QIDO-RS.

A mammography study can hold both the detector's raw "for processing" images and the
vendor-processed "for presentation" images of the same views. The model was trained on
presentation images (what public datasets hold), so those are taken where both exist, and the
log says which kind was chosen. The kind comes from the SOP Class (Digital Mammography
X-Ray Image For Presentation / For Processing) or Presentation Intent Type; an image that
states neither (secondary captures, such as CBIS-DDSM's) counts as presentation.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

from mammorcnn.engine.dicomweb.client import Server, server_errors
from mammorcnn.errors import ConfigError, InputError

log = logging.getLogger("mammorcnn.dicomweb")

# DX/MG/IO "For Processing" SOP classes (PS3.4 B.5).
PROCESSING_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.1.3.1",
})  # fmt: skip
FIELDS = ("SOPClassUID", "PresentationIntentType", "Rows", "Columns", "InstanceNumber")
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class Instance:
    """One image to fetch, with where it lives."""

    study: str
    series: str
    sop: str
    processing: bool

    def url(self, base: str) -> str:
        return f"{base}/studies/{self.study}/series/{self.series}/instances/{self.sop}"


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def _instance(item: dict[str, Any]) -> Instance:
    sop_class = str(_value(item, "00080016") or "")
    intent = str(_value(item, "00080068") or "").upper()
    processing = sop_class in PROCESSING_CLASSES or intent == "FOR PROCESSING"
    return Instance(
        str(_value(item, "0020000D")), str(_value(item, "0020000E")),
        str(_value(item, "00080018")), processing,
    )  # fmt: skip


def check_uid(uid: str) -> str:
    """A study UID as given, or a ConfigError (before anything is sent)."""
    if not UID_PATTERN.match(uid) or len(uid) > 64:
        raise ConfigError(f"--study: not a DICOM UID: {uid!r}")
    return uid


def choose(study: str, instances: list[Instance]) -> list[Instance]:
    """Presentation images where there are any, else the processing ones; logged."""
    presentation = [i for i in instances if not i.processing]
    processing = len(instances) - len(presentation)
    if presentation and processing:
        log.info(
            "study %s: %d 'for presentation' image(s) chosen, %d 'for processing' left out",
            study, len(presentation), processing,
        )  # fmt: skip
        return presentation
    kind = "for processing" if processing else "for presentation"
    log.info("study %s: %d '%s' MG image(s)", study, len(instances), kind)
    return instances


def study_mammograms(server: Server, study: str, required: bool = True) -> list[Instance]:
    """The MG images to predict of ``study``; an unknown study or one without MG is an error
    when ``required`` (a study named by the user), else logged and skipped (``--since``)."""
    client = server.client
    with server_errors(server, f"QIDO-RS search of study {study}"):
        found = client.search_for_studies(search_filters={"StudyInstanceUID": study})
        if not found:
            raise InputError(server.url, f"no study with StudyInstanceUID {study}")
        items = client.search_for_instances(
            study_instance_uid=study,
            search_filters={"Modality": "MG"},
            fields=list(FIELDS),
            get_remaining=True,
        )
    instances = sorted((_instance(i) for i in items), key=lambda i: (i.series, i.sop))
    if not instances:
        modalities = sorted({str(v) for s in found for v in _values(s, "00080061")})
        problem = f"study {study} has no MG images (modalities: {', '.join(modalities) or '-'})"
        if required:
            raise InputError(server.url, problem)
        log.info("%s; skipped", problem)
        return []
    return choose(study, instances)


def _values(item: dict[str, Any], tag: str) -> list[Any]:
    return list(item.get(tag, {}).get("Value") or [])


def studies_since(server: Server, date: str) -> list[str]:
    """Study UIDs whose StudyDate is ``date`` (YYYY-MM-DD) or later, for a nightly batch."""
    try:
        datetime.date.fromisoformat(date)
        valid = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", date))
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(f"--since: expected a date YYYY-MM-DD, got {date!r}")
    with server_errors(server, f"QIDO-RS search of studies since {date}"):
        items = server.client.search_for_studies(
            search_filters={"StudyDate": date.replace("-", "") + "-"}, get_remaining=True
        )
    uids = sorted({str(_value(i, "0020000D")) for i in items})
    log.info("%d study(ies) since %s on %s", len(uids), date, server.url)
    return uids


def find_instances(server: Server, studies: list[str], since: str | None) -> list[Instance]:
    """Every image to predict: of the studies named (each must exist and hold MG images),
    then of the studies since ``since`` (those without MG are skipped)."""
    named = [check_uid(s) for s in dict.fromkeys(studies)]
    found: list[Instance] = []
    for study in named:
        found += study_mammograms(server, study, required=True)
    if since is not None:
        for study in studies_since(server, since):
            if study not in named:
                found += study_mammograms(server, study, required=False)
    return found
