"""mammorcnn: Mask R-CNN for breast-mass detection and segmentation in mammograms."""

from mammorcnn.errors import MammoError

__version__ = "0.1.0"

__all__ = ["MammoError", "__version__", "build_model"]


def build_model(config=None):  # noqa: ANN001, ANN201 - thin lazy re-export
    """Build the specification's Mask R-CNN (see :func:`mammorcnn.model.build_model`)."""
    from mammorcnn.model import build_model as _build

    return _build(config)
