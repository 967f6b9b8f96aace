"""PreprocessRecord: what preprocessing did to one image, and how to map boxes/masks both ways."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

import numpy as np
import torch

from mammorcnn.data.preprocess.geometry import AxisMap
from mammorcnn.errors import InputError

RECORD_VERSION = 1
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass
class PreprocessRecord:
    """Every geometric and intensity step, in order; JSON-safe via :meth:`to_dict`.

    Model pixel (x_m, y_m) <-> original pixel (x, y), corners at integers:
    ``x_m = pad_left + sx * f(x - x0)`` with ``f(t) = crop_w - t`` if ``flipped`` else ``t``,
    ``y_m = pad_top + sy * (y - y0)``, ``sx = resized_w / crop_w``, ``sy = resized_h / crop_h``.
    """

    original_shape: tuple[int, int]  # (H, W) of the decoded image
    crop_box: tuple[int, int, int, int]  # x0, y0, x1, y1 (end-exclusive) in original pixels
    flipped: bool  # crop mirrored left-right so the chest wall is on the left
    orientation_source: str  # ImageLaterality | Laterality | annotation | content | none
    laterality: str | None  # L/R as decided (None if unknown and content undecided)
    resized_shape: tuple[int, int]  # (h, w) of the crop after resizing (long side = image_size)
    pad: tuple[int, int]  # (top, left) zero padding placing the crop in the SxS image
    image_size: int  # S
    intensity_range: tuple[float, float]  # raw values mapped to 0 and 1 (then clipped)
    breast_box: tuple[int, int, int, int] | None = None  # breast before the margin; None: not found
    content_chest_wall: str | None = None  # "left"/"right" as the image content suggests
    version: int = RECORD_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (JSON-safe)

    # ---- geometry -------------------------------------------------------------------------
    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): model pixels per original pixel on each axis (differ by rounding only)."""
        return self.x_map.scale, self.y_map.scale

    @property
    def x_map(self) -> AxisMap:
        x0, _, x1, _ = self.crop_box
        return AxisMap(x0, x1 - x0, self.pad[1], self.resized_shape[1], self.flipped)

    @property
    def y_map(self) -> AxisMap:
        _, y0, _, y1 = self.crop_box
        return AxisMap(y0, y1 - y0, self.pad[0], self.resized_shape[0], False)

    def boxes_to_model(self, boxes: ArrayT) -> ArrayT:
        """(N, 4) x1,y1,x2,y2 in original pixels -> model pixels (not clipped)."""
        return self._map_boxes(boxes, self.x_map.to_model, self.y_map.to_model)

    def boxes_to_original(self, boxes: ArrayT) -> ArrayT:
        """(N, 4) x1,y1,x2,y2 in model pixels -> original pixels (not clipped)."""
        return self._map_boxes(boxes, self.x_map.to_original, self.y_map.to_original)

    @staticmethod
    def _map_boxes(boxes: ArrayT, fx: Any, fy: Any) -> ArrayT:
        array = _to_numpy(boxes).reshape(-1, 4).astype(np.float64)
        xs, ys = fx(array[:, [0, 2]]), fy(array[:, [1, 3]])
        out = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
        return _like(out, boxes)

    # ---- masks ----------------------------------------------------------------------------
    def masks_to_model(self, masks: ArrayT) -> ArrayT:
        """(N, H, W) or (H, W) original binary masks -> uint8 SxS masks.

        A model pixel is in the mask when at least half its footprint is (exact area
        weights). A mask that would vanish (lesion smaller than half a model pixel) keeps its
        best-covered pixel, so no annotated lesion silently disappears.
        """
        array = _to_numpy(masks)
        flat = array.reshape(-1, *array.shape[-2:]) > 0
        size = self.image_size
        out = np.zeros((flat.shape[0], size, size), dtype=np.uint8)
        for n, mask in enumerate(flat):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            if rows.size == 0:
                continue
            j0, ay = self.y_map.area_weights(int(rows[0]), int(rows[-1]) + 1)
            i0, ax = self.x_map.area_weights(int(cols[0]), int(cols[-1]) + 1)
            if ay.size == 0 or ax.size == 0:  # mask entirely outside the crop
                continue
            y0, x0 = max(int(rows[0]), self.y_map.orig_lo), max(int(cols[0]), self.x_map.orig_lo)
            sub = mask[y0 : y0 + ay.shape[1], x0 : x0 + ax.shape[1]].astype(np.float64)
            frac = ay @ sub @ ax.T
            keep = frac >= 0.5 - 1e-9
            if not keep.any() and frac.max() > 0:
                keep = frac == frac.max()
            out[n, j0 : j0 + ay.shape[0], i0 : i0 + ax.shape[0]] = keep
        return _like(out.reshape(*array.shape[:-2], size, size), masks)

    def mask_to_original(self, masks: ArrayT) -> ArrayT:
        """(..., S, S) model masks or probability maps -> (..., H, W) in original pixels.

        Bilinear upsampling (probabilities stay probabilities); float input gives float32
        output, bool/uint8 input is thresholded at 0.5 and keeps its dtype.
        """
        array = _to_numpy(masks)
        binary = array.dtype == bool or array.dtype == np.uint8
        flat = array.reshape(-1, *array.shape[-2:]).astype(np.float32)
        height, width = self.original_shape
        out = np.zeros((flat.shape[0], height, width), dtype=np.float32)
        (top, left), (rh, rw) = self.pad, self.resized_shape
        for n, full in enumerate(flat):
            region = full[top : top + rh, left : left + rw]
            rows, cols = np.flatnonzero(region.any(1)), np.flatnonzero(region.any(0))
            if rows.size == 0:
                continue
            wy = self.y_map.bilinear_weights(top + int(rows[0]), top + int(rows[-1]) + 1)
            wx = self.x_map.bilinear_weights(left + int(cols[0]), left + int(cols[-1]) + 1)
            if wy is None or wx is None:
                continue
            (ky, iy0, iy1, ty), (kx, ix0, ix1, tx) = wy, wx
            tmp = region[iy0] * (1 - ty[:, None]) + region[iy1] * ty[:, None]
            sub = tmp[:, ix0] * (1 - tx[None, :]) + tmp[:, ix1] * tx[None, :]
            out[n, ky : ky + len(iy0), kx : kx + len(ix0)] = sub
        result = out.reshape(*array.shape[:-2], height, width)
        return _like((result >= 0.5).astype(array.dtype) if binary else result, masks)

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists); ``scale`` is added for readers, derived on load."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        data["scale"] = list(self.scale)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessRecord:
        """Inverse of :meth:`to_dict`; a malformed dict raises :class:`InputError`."""
        try:
            if int(data.get("version", -1)) != RECORD_VERSION:
                raise ValueError(f"version {data.get('version')} != {RECORD_VERSION}")
            kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
            for key in ("original_shape", "crop_box", "resized_shape", "pad"):
                kwargs[key] = tuple(int(v) for v in kwargs[key])
            if kwargs.get("breast_box") is not None:
                kwargs["breast_box"] = tuple(int(v) for v in kwargs["breast_box"])
            kwargs["intensity_range"] = tuple(float(v) for v in kwargs["intensity_range"])
            record = cls(**kwargs)
            _validate(record)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(None, f"invalid preprocessing record ({exc!r})") from exc
        return record


def _validate(record: PreprocessRecord) -> None:
    x0, y0, x1, y1 = record.crop_box
    height, width = record.original_shape
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"crop box {record.crop_box} outside image {record.original_shape}")
    (top, left), (rh, rw) = record.pad, record.resized_shape
    if not (rh > 0 and rw > 0 and 0 <= top and 0 <= left):
        raise ValueError("empty resized crop or negative padding")
    if top + rh > record.image_size or left + rw > record.image_size:
        raise ValueError("resized crop does not fit the image size")


def _to_numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        # numpy has no bfloat16; half precision is widened too so the maths stays exact
        if values.is_floating_point() and values.dtype != torch.float64:
            values = values.float()
        return values.numpy()
    return np.asarray(values)


def _like(result: np.ndarray, reference: np.ndarray | torch.Tensor) -> Any:
    """Return ``result`` as the caller's type: tensors on their device, float32 for tensors."""
    if isinstance(reference, torch.Tensor):
        tensor = torch.from_numpy(np.ascontiguousarray(result))
        if tensor.is_floating_point():
            tensor = tensor.to(reference.dtype if reference.is_floating_point() else torch.float32)
        return tensor.to(reference.device)
    if np.issubdtype(result.dtype, np.floating) and np.issubdtype(reference.dtype, np.floating):
        return result.astype(reference.dtype, copy=False)
    return result
