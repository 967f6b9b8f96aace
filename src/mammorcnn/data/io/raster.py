"""PNG / TIFF / PGM (and grey JPEG) reader via Pillow, 8 or 16 bits, single channel only.

Colour and alpha are refused rather than converted: a mammogram saved in colour or with an
alpha channel has been through a tool that may also have rescaled or burned in annotations, and
the user should know (the error says how to fix it). The one exception is an RGB image whose
three channels are equal everywhere: that is a grey image an image editor saved as RGB (common),
nothing was burned in, and it is read as its one grey channel with a log line saying so.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mammorcnn.data.io.raw import MAX_PIXELS, RawImage, check_pixel_count, view_from_text
from mammorcnn.errors import ImageReadError

log = logging.getLogger("mammorcnn.data.io")

#: Pillow format names accepted (PGM is Pillow's "PPM" plugin; colour PPM is refused).
FORMATS = {"PNG": "png", "TIFF": "tiff", "PPM": "pgm", "JPEG": "jpeg"}
#: Pillow modes accepted, with the bit depth they carry.
MODES = {"1": 1, "L": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _check(path: Path, im: Image.Image) -> tuple[str, int]:
    """Format, frame count, size (before decoding) and mode; returns (kind, bits)."""
    if im.format not in FORMATS:
        raise ImageReadError(
            path, f"unsupported image format {im.format}; use DICOM, PNG, TIFF or PGM"
        )
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames != 1:
        raise ImageReadError(
            path, f"multi-frame {im.format} ({frames} frames); one frame is expected"
        )
    width, height = im.size
    check_pixel_count(path, height, width)
    if im.mode == "RGB" and "transparency" not in im.info:
        return FORMATS[im.format], 8  # read as grey if its channels are equal (read_raster)
    if im.mode not in MODES or "transparency" in im.info:
        alpha = "A" in im.mode or "a" in im.mode or "transparency" in im.info
        problem = "has an alpha channel" if alpha else "is a colour/palette image"
        raise ImageReadError(
            path,
            f"{im.format} image in mode {im.mode} {problem}; save it as single-channel "
            "8- or 16-bit grey (e.g. PIL convert('L') / convert('I;16'))",
        )
    bits = MODES[im.mode]
    if im.mode == "I" and im.format in ("PNG", "PPM"):  # Pillow's mode for 16-bit PGM/PNG
        bits = 16
    return FORMATS[im.format], bits


def _grey_from_rgb(path: Path, kind: str, array: np.ndarray) -> np.ndarray:
    """The one channel of an RGB image whose channels are equal; other RGB images are refused."""
    if not (np.array_equal(array[..., 0], array[..., 1])
            and np.array_equal(array[..., 0], array[..., 2])):  # fmt: skip
        raise ImageReadError(
            path,
            f"{kind} image in mode RGB is a colour/palette image (its channels differ); save it "
            "as single-channel 8- or 16-bit grey (e.g. PIL convert('L') / convert('I;16'))",
        )
    log.info("%s: RGB image with three equal channels, read as 8-bit grey", path)
    return array[..., 0]


def read_raster(path: Path) -> RawImage:
    """Decode a single-channel raster image into a :class:`RawImage`."""
    try:
        with warnings.catch_warnings():
            # Our own MAX_PIXELS check replaces Pillow's decompression-bomb warning, and a
            # damaged file either decodes or raises: Pillow's warnings add nothing.
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                kind, bits = _check(path, im)
                im.load()
                array = np.array(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit (above ours) hit at open
        raise ImageReadError(
            path,
            f"image exceeds the limit of {MAX_PIXELS} pixels (mammorcnn.data.io.MAX_PIXELS); "
            f"refused before decoding ({_describe(exc)})",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            path, "not an image file (content is not DICOM, PNG, TIFF or PGM)"
        ) from exc
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error, ...
        raise ImageReadError(path, f"not a readable image ({_describe(exc)})") from exc
    if array.ndim == 3 and array.shape[2] == 3:
        array = _grey_from_rgb(path, im.format, array)
    if array.ndim != 2:
        raise ImageReadError(
            path, f"decoded image has shape {array.shape}; a 2-D image is expected"
        )
    pixels = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(pixels).all():
        raise ImageReadError(path, "image contains non-finite values")
    view = view_from_text(path.stem)
    meta: dict[str, Any] = {
        "kind": kind,
        "path": str(path),
        "shape": [int(pixels.shape[0]), int(pixels.shape[1])],
        "laterality": None,
        "laterality_source": None,
        "view": view,
        "view_source": "filename" if view else None,
        "photometric": "MONOCHROME2",
        "bits": bits,
        "voi": "none",
    }
    return RawImage(pixels=pixels, meta=meta)
