"""Writers of `predict`'s outputs, all in the original image's pixels and all atomic.

COCO results JSON (RLE masks), a mask PNG, an overlay PNG, a DICOM SEG, and the sanitised
file names they are written under. Import the DICOM writer from
``mammorcnn.engine.outputs.dicom_seg`` (it pulls in highdicom, which the others do not need).
"""

from mammorcnn.engine.outputs.detections import Detections, as_detections
from mammorcnn.engine.outputs.mask_png import binary_mask, label_mask, write_mask_png
from mammorcnn.engine.outputs.names import safe_output_name, safe_output_path, unique_output_names
from mammorcnn.engine.outputs.overlay import render_overlay, window_to_uint8, write_overlay_png
from mammorcnn.engine.outputs.results import coco_results, write_coco_results, write_json

__all__ = [
    "Detections",
    "as_detections",
    "binary_mask",
    "coco_results",
    "label_mask",
    "render_overlay",
    "safe_output_name",
    "safe_output_path",
    "unique_output_names",
    "window_to_uint8",
    "write_coco_results",
    "write_json",
    "write_mask_png",
    "write_overlay_png",
]
