"""SEGs into their studies by STOW-RS on a real Orthanc: validated first, stored once per run
identity and image, refusals named with the server's status and reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from orthanc_server import USERS, tiny_image
from pydicom.uid import generate_uid

from mammorcnn import __version__
from mammorcnn.engine.dicomweb import client as dw
from mammorcnn.engine.dicomweb.fetch import Source
from mammorcnn.engine.dicomweb.push import (
    push_segs,
    referenced_sops,
    run_identity,
    stamp,
    store,
    validate,
)
from mammorcnn.engine.dicomweb.studies import Instance
from mammorcnn.engine.outputs.dicom_seg import write_dicom_seg
from mammorcnn.errors import InputError

IDENTITY = [__version__, "weights sha256:0123456789abcdef", "settings sha256:01234567"]


def _source(tmp_path: Path, study: str | None = None) -> tuple[pydicom.Dataset, Path, Source]:
    ds = tiny_image(study or generate_uid())
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    instance = Instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, False)
    return ds, path, Source(instance, f"http://x/{ds.SOPInstanceUID}", 16, 16)


def _seg(tmp_path: Path, source_path: Path, identity: list[str] = IDENTITY) -> Path:
    masks = np.zeros((1, 16, 16), bool)
    masks[0, 4:9, 3:12] = True
    out = write_dicom_seg(source_path, masks, [0.9], tmp_path / f"{generate_uid()}_seg.dcm")
    stamp(out, identity)
    return out


def test_run_identity_hashes_weights_and_settings(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"abc")
    identity = run_identity(weights, {"score_threshold": 0.5})
    sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert identity[:2] == [__version__, f"weights sha256:{sha_abc[:16]}"]
    assert run_identity(weights, {"score_threshold": 0.6})[2] != identity[2]
    assert all(len(v) <= 64 and "\\" not in v for v in identity)  # DICOM LO values


def test_validate_names_what_does_not_fit(tmp_path):
    ds, path, source = _source(tmp_path)
    seg_path = _seg(tmp_path, path)
    seg = validate(seg_path, source)
    assert list(seg.SoftwareVersions) == IDENTITY
    assert referenced_sops(seg) == {ds.SOPInstanceUID}
    _, _, other = _source(tmp_path, ds.StudyInstanceUID)
    with pytest.raises(
        InputError, match=r"invalid SEG \(does not reference the source image\); not stored"
    ):
        validate(seg_path, other)
    _, _, elsewhere = _source(tmp_path)
    with pytest.raises(InputError, match="study differs"):
        validate(seg_path, elsewhere)
    taller = Source(source.instance, source.url, 20, 16)
    with pytest.raises(InputError, match="16x16 pixels, source 20x16"):
        validate(seg_path, taller)
    with pytest.raises(InputError, match="not a valid DICOM SEG"):
        validate(path, source)  # the image itself


def _segs_in(orthanc, study: str) -> list[dict]:
    return orthanc.instances(study, modality="SEG")


def test_stored_once_per_run_identity_and_image(orthanc, writer_env, tmp_path):
    ds, path, source = _source(tmp_path)
    second, second_path, second_source = _source(tmp_path, ds.StudyInstanceUID)
    orthanc.upload(ds, second)
    server = dw.connect(orthanc.dicomweb)
    first = _seg(tmp_path, path)
    assert push_segs(server, [(first, source)], IDENTITY).stored == [first.name]
    (item,) = _segs_in(orthanc, ds.StudyInstanceUID)
    series, sop = item["0020000E"]["Value"][0], item["00080018"]["Value"][0]
    fetched = orthanc.client().retrieve_instance(
        ds.StudyInstanceUID, series, sop, media_types=(("application/dicom", "*"),)
    )
    assert fetched == pydicom.dcmread(first)  # what was validated is what is stored
    # The same run again (new UIDs, same identity, same image): kept, not stored.
    again = push_segs(server, [(_seg(tmp_path, path), source)], IDENTITY)
    assert again.stored == [] and len(again.kept) == 1
    assert len(_segs_in(orthanc, ds.StudyInstanceUID)) == 1
    # Same identity for another image of the study; another identity; --force: all stored.
    result = push_segs(server, [(_seg(tmp_path, second_path), second_source)], IDENTITY)
    assert len(result.stored) == 1
    other = [*IDENTITY[:2], "settings sha256:89abcdef"]
    assert len(push_segs(server, [(_seg(tmp_path, path, other), source)], other).stored) == 1
    forced = push_segs(server, [(_seg(tmp_path, path), source)], IDENTITY, force=True)
    assert len(forced.stored) == 1
    assert len(_segs_in(orthanc, ds.StudyInstanceUID)) == 4


def test_nothing_is_sent_when_one_seg_is_invalid(orthanc, writer_env, tmp_path):
    ds, path, source = _source(tmp_path)
    other, other_path, other_source = _source(tmp_path)
    orthanc.upload(ds, other)
    good = _seg(tmp_path, path)
    with pytest.raises(InputError, match="does not reference the source image"):
        push_segs(dw.connect(orthanc.dicomweb), [(good, source), (good, other_source)], IDENTITY)
    assert _segs_in(orthanc, ds.StudyInstanceUID) == []


def test_a_refused_stow_names_status_and_reason(orthanc, monkeypatch, tmp_path):
    ds, path, source = _source(tmp_path)
    orthanc.upload(ds)
    seg = _seg(tmp_path, path)
    monkeypatch.setenv(dw.USER_ENV, "reader")  # may read, may not store (see orthanc_server)
    monkeypatch.setenv(dw.PASSWORD_ENV, USERS["reader"])
    with pytest.raises(InputError) as info:
        push_segs(dw.connect(orthanc.dicomweb), [(seg, source)], IDENTITY)
    assert str(info.value) == (
        f"{orthanc.dicomweb}: STOW-RS of {seg.name} into study {ds.StudyInstanceUID} refused: "
        "HTTP 403 Forbidden"
    )
    assert _segs_in(orthanc, ds.StudyInstanceUID) == []


def test_the_failure_reason_of_a_stow_answer(orthanc, writer_env, tmp_path):
    """Orthanc refuses an instance sent to another study's URL with 409 and Failure Reason
    0x0110 in the answer's Failed SOP Sequence; the message carries both."""
    ds, path, _ = _source(tmp_path)
    orthanc.upload(ds)
    seg = pydicom.dcmread(_seg(tmp_path, path))
    wrong = generate_uid()
    with pytest.raises(InputError) as info:
        store(dw.connect(orthanc.dicomweb), seg, "x_seg.dcm", wrong)
    assert f"STOW-RS of x_seg.dcm into study {wrong} refused: HTTP 409" in str(info.value)
    assert "(Failure Reason 0x0110 processing failure)" in str(info.value)
    assert USERS["writer"] not in str(info.value)
