"""Image readers: DICOM (pydicom) and PNG/TIFF/PGM (Pillow) into one :class:`RawImage`."""

from mammorcnn.data.io.raw import MAX_PIXELS, RawImage
from mammorcnn.data.io.reader import read_image

__all__ = ["MAX_PIXELS", "RawImage", "read_image"]
