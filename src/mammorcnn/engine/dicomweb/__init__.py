"""DICOMweb: studies in from a PACS by QIDO-RS/WADO-RS, DICOM SEGs back by STOW-RS.

Built on dicomweb-client; see docs/usage.md (DICOMweb) for the round trip against Orthanc.
"""

from mammorcnn.engine.dicomweb.client import ServerError, connect
from mammorcnn.engine.dicomweb.inputs import DicomwebInputs
from mammorcnn.engine.dicomweb.push import PushResult

__all__ = ["DicomwebInputs", "PushResult", "ServerError", "connect"]
