"""A real Orthanc with its DICOMweb plugin for the tests, on 127.0.0.1 at free ports.

Each server gets its own configuration and storage folder, authentication on, two users:
``writer`` (may store) and ``reader`` (a Lua filter refuses its POSTs with HTTP 403, the way a
PACS refuses a read-only account's STOW-RS). Tests skip with the reason when Orthanc or the
plugin is not installed (Debian: ``apt-get install orthanc orthanc-dicomweb``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USERS = {"writer": "w-Secret-93", "reader": "r-Secret-17"}
READ_ONLY = """
function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)
  if username == 'reader' and method ~= 'GET' then return false end
  return true
end
"""
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def skip_without_orthanc() -> None:
    if not Path(ORTHANC).is_file():
        pytest.skip("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
    if not PLUGIN.is_file():
        pytest.skip(f"the Orthanc DICOMweb plugin is not installed ({PLUGIN})")


@dataclass
class Orthanc:
    root: str  # http://127.0.0.1:PORT
    folder: Path

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    def session(self, user: str = "writer") -> requests.Session:
        session = requests.Session()
        session.auth = (user, USERS[user])
        return session

    def client(self, user: str = "writer"):  # noqa: ANN201 - a DICOMwebClient
        from dicomweb_client import DICOMwebClient

        return DICOMwebClient(self.dicomweb, session=self.session(user))

    def upload(self, *datasets: pydicom.Dataset) -> None:
        """Store instances through Orthanc's own REST API (independent of the code tested)."""
        for ds in datasets:
            buffer = BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            answer = self.session().post(f"{self.root}/instances", data=buffer.getvalue())
            answer.raise_for_status()

    def instances(self, study: str, modality: str | None = None) -> list[dict]:
        filters = {"Modality": modality} if modality else {}
        return self.client().search_for_instances(study_instance_uid=study, search_filters=filters)


@contextmanager
def running_orthanc(folder: Path) -> Iterator[Orthanc]:
    """Start Orthanc with a configuration written here; stop it after."""
    skip_without_orthanc()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "read_only.lua").write_text(READ_ONLY)
    http_port, dicom_port = free_port(), free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    config = {
        "Name": "mammorcnn-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "RegisteredUsers": USERS,
        "HttpCompressionEnabled": False,  # loopback: gzip of 10 MB images only costs CPU
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "LuaScripts": [str(folder / "read_only.lua")],
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=1))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen(
        [ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    server = Orthanc(f"http://127.0.0.1:{http_port}", folder)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                tail = (folder / "orthanc.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Orthanc exited with {process.returncode}:\n{tail}")
            try:
                if server.session().get(f"{server.root}/system", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Orthanc did not answer within {START_SECONDS} s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def tiny_image(
    study: str,
    modality: str = "MG",
    date: str = "20240105",
    intent: str | None = None,
    size: int = 16,
) -> pydicom.Dataset:
    """A small single-frame image of a new series in ``study`` (fast to store and to fetch)."""
    import numpy as np
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyDate, ds.Modality = "P1", "Test^Tiny", date, modality
    if intent:
        ds.PresentationIntentType = intent
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(size * size, dtype=np.uint16) * 7 % 4096).tobytes()
    return ds
